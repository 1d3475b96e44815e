"""The duplicates page at 100,000 contacts: the full rebuild, pairs recorded on write, the pages.

Seeds ``--contacts`` synthetic people (demo names and cities, every field
encrypted and indexed) of whom ``--twins`` get a second record: a third with
the same email in other case, a third with the same phone in national format,
a third with the same name (in Cyrillic where it has one) and city. Then
times the refresh job (``duplicates.refresh_candidates``: the full rebuild, each
contact decrypted once), then recording the pairs of ``--record-sample``
contacts as a commit does (``duplicate_pairs.record_for``), and walks the pages
of ``duplicates.pair_page`` as a coordinator without clearance, each request
with an empty session, printing per page: ms, pairs examined and pairs shown.

Usage: .venv/bin/python bench/duplicates_page.py [--database-url URL] [--contacts N] [--twins N]
"""
import dataclasses
import random
import time

import benchlib
from sqlalchemy import select

from crm.extensions import db
from crm.models import Contact
from crm.services import duplicate_pairs, duplicates
from crm.services.contacts import create_contacts_bulk
from crm.services.demo import fake_person
from crm.services.users import create_user

BATCH = 1000


def twin_of(data, kind):
    """A second record of the same person, told apart from the first as people do."""
    if kind == 0:
        return dataclasses.replace(data, email=data.email.upper(), phone=None, full_name="A. N. Other")
    if kind == 1:
        national = data.phone.split(" ", 1)[1]
        return dataclasses.replace(data, email=None, phone=national if data.phone.startswith("+48") else data.phone,
                                   full_name="Someone Else")
    return dataclasses.replace(data, email=None, phone=None)


def seed(count, twins, rng):
    start = time.perf_counter()
    twin_serials = set(rng.sample(range(count), twins))
    planted = 0
    for first in range(0, count, BATCH):
        batch = [fake_person(rng, serial) for serial in range(first, min(first + BATCH, count))]
        extra = [twin_of(d, serial % 3) for serial, d in enumerate(batch, start=first) if serial in twin_serials]
        planted += len(extra)
        create_contacts_bulk(batch + extra)
        db.session.commit()
        db.session.expunge_all()
    return planted, time.perf_counter() - start


def main():
    p = benchlib.parser(__doc__.split("\n")[0], contacts=100_000)
    p.add_argument("--twins", type=int, default=1000, help="people recorded twice (default 1000)")
    p.add_argument("--pages", type=int, default=10, help="pages walked (default 10)")
    p.add_argument("--record-sample", type=int, default=1000,
                   help="contacts whose pairs are recorded as on write (default 1000)")
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        rng = random.Random(11)
        planted, seconds = seed(args.contacts, args.twins, rng)
        print(f"seeded {args.contacts} contacts + {planted} second records in {seconds:.1f} s")
        user, _ = create_user("bench-coordinator", "coordinator", False)
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        user_id = user.id

        from crm.models import User

        db.session.remove()
        user = db.session.get(User, user_id)
        cpu = time.process_time()
        refresh_s, pairs = benchlib.timed(duplicates.refresh_candidates)
        cpu = time.process_time() - cpu
        db.session.commit()
        print(f"refresh job (full rebuild: each contact decrypted once, name pairs by SQL): {refresh_s:.1f} s "
              f"({cpu:.1f} s CPU in this process), {pairs} confirmed pairs")
        sample = list(db.session.scalars(select(Contact.id).order_by(Contact.id).limit(args.record_sample)))
        cpu = time.process_time()
        record_s, recorded = benchlib.timed(duplicate_pairs.record_for, db.session, sample)
        cpu = time.process_time() - cpu
        db.session.commit()
        print(f"pairs recorded on write for {len(sample)} contacts (as before a commit): {record_s:.2f} s, "
              f"{record_s * 1000 / len(sample):.2f} ms per contact ({cpu * 1000 / len(sample):.2f} ms CPU), "
              f"{recorded} pairs")
        rows, cursor, confirmed = [], None, 0
        for number in range(1, args.pages + 1):
            db.session.remove()
            user = db.session.get(User, user_id)
            seconds, page = benchlib.timed(duplicates.pair_page, user, cursor)
            db.session.rollback()
            confirmed += len(page.pairs)
            rows.append((number, f"{seconds * 1000:.0f}", page.examined, len(page.pairs)))
            cursor = page.next_cursor
            if cursor is None:
                break
        times = [float(r[1]) for r in rows]
        benchlib.print_table(
            f"Duplicates pages at {args.contacts} contacts + {planted} twins ({benchlib.backend_name(app)}; "
            f"{benchlib.load_note()})", rows, headers=("page", "ms", "pairs examined", "pairs shown"))
        print(f"pages median {benchlib.median(times):.0f} ms, p95 {benchlib.percentile(times, 95):.0f} ms; "
              f"{confirmed} pairs shown over {len(rows)} pages")


if __name__ == "__main__":
    main()
