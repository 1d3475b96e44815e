"""Lookup by email, phone and name through the blind indexes, at 100,000 contacts.

Seeds ``--contacts`` synthetic people with ``create_contacts_bulk`` (all fields
encrypted and indexed; names from ``crm.services.demo_names``: thousands of family
names with a realistic spread), then looks up ``--lookups`` of them, chosen at
random, through ``crm.services.lookup``: the index query, loading the candidates,
decrypting and comparing. Each lookup starts with an empty session (as a new
request would). Prints median and p95 in ms, and the candidates per lookup (the
real match plus blind-index collisions, which are decrypted and dropped). Name
lookups are those of the search page: the newest 101 matches (100 shown, one to
know there are more), by the family name alone and by the full name (newest first,
docs/decisions/0026-name-search-order.md).

Usage: .venv/bin/python bench/lookup.py [--database-url URL] [--contacts N] [--keep DIR]
(``--keep DIR`` seeds once and reuses those contacts on the next run with the same DIR.)
"""
import random
import time

import benchlib
from crm.extensions import db
from crm.models import Contact
from crm.security import blind_index
from crm.services import lookup
from crm.services.contacts import create_contacts_bulk
from crm.services.demo import fake_person

BATCH = 1000
SHOWN = 101  # the search page: 100 shown, one more to know there are more


def seed(count, sample_size, rng, insert=True):
    """Create ``count`` contacts; return a random sample of their data and the seconds taken.

    ``insert=False`` only draws the same people again (a ``--keep`` run that finds them stored).
    """
    wanted = set(rng.sample(range(count), min(sample_size, count)))
    sample = []
    start = time.perf_counter()
    for first in range(0, count, BATCH):
        batch = [fake_person(rng, serial) for serial in range(first, min(first + BATCH, count))]
        if insert:
            create_contacts_bulk(batch)
            db.session.commit()
            db.session.expunge_all()
        sample.extend(data for serial, data in enumerate(batch, start=first) if serial in wanted)
    return sample, time.perf_counter() - start


def vacuum(app):
    """VACUUM ANALYZE, as autovacuum soon would: sets the visibility map for index-only scans."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(db.text("VACUUM ANALYZE" if benchlib.backend_name(app) == "postgresql" else "ANALYZE"))


def measure(find, spec, values):
    """(ms per lookup, candidates per lookup, matches per lookup) over ``values``."""
    times, candidates, matches = [], [], []
    for value in values:
        db.session.remove()
        start = time.perf_counter()
        found = find(value)
        times.append((time.perf_counter() - start) * 1000)
        matches.append(len(found))
        candidates.append(len(lookup.candidate_ids(spec, value, limit=10 ** 7)) if spec else 0)
    db.session.remove()
    return times, candidates, matches


def main():
    p = benchlib.parser(__doc__.split("\n")[0], contacts=100_000)
    p.add_argument("--lookups", type=int, default=100, help="lookups per kind (default 100)")
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        rng = random.Random(5)
        stored = db.session.query(Contact).count()
        if stored == args.contacts:
            sample, _ = seed(args.contacts, args.lookups, rng, insert=False)
            print(f"reusing the {stored} contacts an earlier --keep run seeded")
        else:
            if stored:
                raise SystemExit(f"--keep holds {stored} contacts, not {args.contacts}: use another folder")
            sample, seconds = seed(args.contacts, args.lookups, rng)
            print(f"seeded {args.contacts} contacts in {seconds:.1f} s ({args.contacts / seconds:.0f}/s)")
            db.session.commit()
            vacuum(app)
        rows = []
        for label, find, spec, value_of in (
            ("email", lookup.find_by_email, blind_index.EMAIL, lambda d: d.email),
            ("phone", lookup.find_by_phone, blind_index.PHONE, lambda d: d.phone),
            ("family name", lambda w: lookup.find_by_name(w, limit=SHOWN), blind_index.NAME_WORD,
             lambda d: d.full_name.split()[-1]),
            ("family name, up to 500", lambda w: lookup.find_by_name(w, limit=500), blind_index.NAME_WORD,
             lambda d: d.full_name.split()[-1]),
            ("full name", lambda w: lookup.find_by_name(w, limit=SHOWN), None, lambda d: d.full_name),
        ):
            values = [value_of(d) for d in sample]
            find(values[0])  # warm up: keys derived, statements compiled
            times, candidates, matches = measure(find, spec, values)
            missed = sum(1 for m in matches if m < 1)
            rows.append((label, len(values), f"{benchlib.median(times):.2f}",
                         f"{benchlib.percentile(times, 95):.2f}", f"{max(times):.2f}",
                         f"{sum(candidates) / len(candidates):.1f}", max(candidates),
                         f"{sum(matches) / len(matches):.1f}", missed))
        benchlib.print_table(
            f"Exact lookup at {args.contacts} contacts ({benchlib.backend_name(app)}; {benchlib.load_note()})",
            rows, headers=("by", "lookups", "median ms", "p95 ms", "max ms", "candidates/lookup",
                           "max candidates", "matches/lookup", "not found"))


if __name__ == "__main__":
    main()
