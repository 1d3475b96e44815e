"""Server time of the coordinator's pages at 100,000 contacts: triage queue, contact page, search.

Seeds ``--contacts`` synthetic people (encrypted and indexed, with paths), a third
of them met at one of 40 meetings, a quarter already assigned, creation times
spread over a year. Then requests each page ``--repeat`` times through the
app's WSGI stack (test client, signed in as a coordinator with clearance:
session check, route matrix, query, decryption of the shown rows, template,
audit event, commit) and prints median and p95 in ms.

Usage: .venv/bin/python bench/workspace_pages.py [--database-url URL] [--contacts N] [--repeat N]
"""
import itertools
import random
import time
from datetime import timedelta

import benchlib
from flask.testing import FlaskClient
from sqlalchemy import insert, select, text, update

from crm.extensions import db
from crm.models import Attendance, Contact
from crm.models.base import utcnow
from crm.services import sessions
from crm.services.contacts import create_contacts_bulk
from crm.services.demo import fake_person
from crm.services.meetings import MeetingData, create_meeting
from crm.services.users import create_user

BATCH = 1000
MEETINGS = 40


def seed(count, rng, coordinator_id, staff_id):
    """Contacts, meetings, attendance and assignments; returns (seconds, sample of contact data)."""
    start = time.perf_counter()
    meetings = [create_meeting(MeetingData(city=f"City {n}", country="PL",
                                           starts_at=utcnow() - timedelta(days=9 * n))).id
                for n in range(MEETINGS)]
    db.session.commit()
    sample = []
    for first in range(0, count, BATCH):
        batch = [fake_person(rng, serial) for serial in range(first, min(first + BATCH, count))]
        ids = create_contacts_bulk(batch)
        # Spread creation over a year, oldest first, so "oldest first" means something.
        age = timedelta(minutes=int(525_600 * (1 - first / count)))
        db.session.execute(update(Contact).where(Contact.id.in_(ids)).values(created_at=utcnow() - age))
        met = [{"meeting_id": rng.choice(meetings), "contact_id": cid, "recorded_by_id": coordinator_id}
               for cid in ids if rng.random() < 1 / 3]
        if met:
            db.session.execute(insert(Attendance), met)
        assigned = [cid for cid in ids if rng.random() < 0.25]
        if assigned:
            db.session.execute(update(Contact).where(Contact.id.in_(assigned))
                               .values(assignee_id=staff_id, status="triaged"))
        db.session.commit()
        db.session.expunge_all()
        sample.extend(rng.sample(batch, 2))
    return time.perf_counter() - start, sample, meetings


class FreshContextClient(FlaskClient):
    """Each request in its own app context, as in production (``g`` is not shared)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def settle(app):
    """What autovacuum does soon after a bulk load: statistics and the visibility map."""
    if benchlib.backend_name(app) == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def signed_in_client(app, user):
    """A test client with a full server-side session for ``user`` (no password or TOTP round)."""
    row, _ = sessions.start(user, "totp")
    token = sessions.advance(row, "full")
    db.session.commit()
    app.test_client_class = FreshContextClient
    client = app.test_client()
    with client.session_transaction() as session:
        session["sid"] = token
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    return client


def measure(call, repeat):
    """(wall ms per request, CPU ms per request on average: this process + its PostgreSQL backend).

    The CPU figure hardly moves with the machine's load (it counts what the request
    itself computed), so it estimates the time on an idle machine; the backend's CPU
    is read from /proc in clock ticks, hence the average over all requests.
    """
    times = []
    server_before = database_cpu()
    cpu_before = time.process_time()
    for _ in range(repeat):
        db.session.remove()
        start = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    cpu = time.process_time() - cpu_before + database_cpu() - server_before
    return times, cpu * 1000 / repeat


def database_cpu():
    """CPU seconds used so far by every PostgreSQL backend connected to this database (0 on SQLite).

    Read from /proc, so only for a server on this machine; the pool may hand a request
    any of its connections, hence all of them.
    """
    total = sum(benchlib.backends_cpu(client_backends_only=False).values())
    db.session.remove()
    return total


def main():
    p = benchlib.parser(__doc__.split("\n")[0], contacts=100_000)
    p.add_argument("--repeat", type=int, default=50, help="requests per page (default 50)")
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        app.config["WTF_CSRF_ENABLED"] = False  # the search POST goes without its token here
        rng = random.Random(7)
        coordinator, _ = create_user("bench-coord", "coordinator", clearance=True)
        staff, _ = create_user("bench-staff", "staff")
        plain_id = create_user("bench-plain", "coordinator")[0].id
        db.session.commit()
        coordinator_id, staff_id = coordinator.id, staff.id
        seconds, sample, meetings = seed(args.contacts, rng, coordinator_id, staff_id)
        coordinator = db.session.get(type(coordinator), coordinator_id)
        print(f"seeded {args.contacts} contacts in {seconds:.1f} s on {benchlib.backend_name(app)} "
              f"({benchlib.load_note()})")
        settle(app)
        client = signed_in_client(app, coordinator)
        plain = signed_in_client(app, db.session.get(type(coordinator), plain_id))
        queue_total = db.session.scalar(select(db.func.count()).select_from(Contact)
                                        .where(Contact.status == "new", Contact.assignee_id.is_(None)))
        deep = max(1, queue_total // 25 // 2)
        contact_ids = list(db.session.scalars(select(Contact.id).limit(args.repeat)))
        people = itertools.cycle(sample)
        ids = itertools.cycle(contact_ids)
        pages = [
            ("triage, first page", lambda: client.get("/triage/")),
            (f"triage, page {deep} of the queue", lambda: client.get(f"/triage/?page={deep}")),
            ("triage, one meeting", lambda: client.get(f"/triage/?meeting={meetings[3]}")),
            ("triage, path + stage", lambda: client.get("/triage/?path=volunteering&stage=interested")),
            ("triage, first page, no clearance", lambda: plain.get("/triage/")),
            (f"triage, page {deep}, no clearance", lambda: plain.get(f"/triage/?page={deep}")),
            ("triage, path + stage, no clearance",
             lambda: plain.get("/triage/?path=volunteering&stage=interested")),
            ("contact page", lambda: client.get(f"/contacts/{next(ids)}")),
            ("search by email", lambda: client.post("/contacts/", data={"q": next(people).email})),
            ("search by phone", lambda: client.post("/contacts/", data={"q": next(people).phone})),
            ("search by name word",
             lambda: client.post("/contacts/", data={"q": next(people).full_name.split()[-1]})),
            ("reports", lambda: client.get("/reports/")),
            ("reports, no clearance", lambda: plain.get("/reports/")),
        ]
        rows = []
        for label, call in pages:
            call()  # warm-up: first template compile, caches
            times, cpu = measure(call, args.repeat)
            rows.append((label, f"{benchlib.median(times):.1f}", f"{benchlib.percentile(times, 95):.1f}", f"{cpu:.1f}"))
        benchlib.print_table(f"server time per request, {args.contacts} contacts, {queue_total} in the queue "
                             f"({args.repeat} requests each)", rows, headers=("page", "median ms", "p95 ms", "CPU ms/request"))


if __name__ == "__main__":
    main()
