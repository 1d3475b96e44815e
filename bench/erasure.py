"""Erasing one person (the erase_contact job's work) among many contacts, messages and jobs.

Seeds ``--contacts`` people (bulk, encrypted and indexed), ``--outbox`` sent messages
(the outbox has no index: erasure decrypts every recipient) and ``--jobs`` finished
RQ jobs in Redis (erasure reads each one's arguments). Then erases ``--erasures``
people, each with notes, follow-ups and attendance, exactly as the job does
(database work, Redis clean-up, commit), and prints median and p95 per erasure
with the share spent on the outbox scan and on Redis.

Usage: .venv/bin/python bench/erasure.py [--database-url URL] [--redis-url URL]
       [--contacts N] [--outbox N] [--jobs N] [--erasures N]
"""
import random
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import benchlib
from crm.extensions import db
from crm.jobs import get_queue
from crm.models import Attendance, ContactNote, FollowUp, Meeting, Outbox
from crm.redis_conn import get_redis
from crm.services import erasure, erasure_redis
from crm.services.contacts import create_contact
from crm.services.demo import fake_person

BATCH = 1000


def seed(args, rng):
    start = time.perf_counter()
    benchlib.seed_people(args.contacts, rng)
    for n in range(args.outbox):
        row = Outbox(idempotency_key=f"bench:{n}", kind="bench", status="sent")
        row.recipient, row.subject, row.body = f"person{n}@example.org", "Hello", "Body"
        db.session.add(row)
        if n % BATCH == 0:
            db.session.commit()
    db.session.commit()
    queue = get_queue("default")
    for _ in range(args.jobs):
        queue.enqueue("workers.jobs.send_mail", str(uuid.uuid4()), result_ttl=3600)
    return time.perf_counter() - start


def subject(rng, serial, meeting):
    data = fake_person(rng, 10_000_000 + serial)
    contact = create_contact(replace(data, paths=("volunteering",))).contact
    db.session.add(Attendance(meeting_id=meeting.id, contact_id=contact.id))
    for n in range(5):
        note = ContactNote(contact_id=contact.id)
        note.body = f"note {n}"
        db.session.add(note)
    for kind in ("call", "message", "meeting"):
        followup = FollowUp(contact_id=contact.id, kind=kind, status="open")
        followup.outcome = "outcome"
        db.session.add(followup)
    row = Outbox(idempotency_key=f"bench-subject:{serial}", kind="bench", status="sent")
    row.recipient, row.subject, row.body = contact.email or f"s{serial}@example.org", "Hi", "Body"
    db.session.add(row)
    db.session.commit()
    return contact.id


def main():
    p = benchlib.parser(__doc__.split("\n")[0], contacts=20_000)
    p.add_argument("--outbox", type=int, default=5_000, help="sent messages in the outbox (default 5000)")
    p.add_argument("--jobs", type=int, default=2_000, help="finished jobs kept in Redis (default 2000)")
    p.add_argument("--erasures", type=int, default=20, help="people erased (default 20)")
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        rng = random.Random(11)
        seconds = seed(args, rng)
        print(f"seeded {args.contacts} contacts, {args.outbox} messages, {args.jobs} jobs in {seconds:.1f} s")
        meeting = Meeting(city="Vilnius", country="LT", starts_at=datetime(2026, 5, 1, tzinfo=UTC))
        db.session.add(meeting)
        db.session.commit()
        ids = [subject(rng, n, meeting) for n in range(args.erasures)]
        redis = get_redis(app)
        totals, outbox_scans, redis_parts = [], [], []
        for contact_id in ids:
            db.session.remove()
            scan_start = time.perf_counter()
            erasure._matching_rows(Outbox, "recipient", "nobody@example.org")
            outbox_scans.append(time.perf_counter() - scan_start)
            db.session.remove()
            start = time.perf_counter()
            result = erasure.erase(contact_id, via="cli")
            redis_start = time.perf_counter()
            erasure_redis.forget_rate_limits(redis, result["tokens"], app.config["RATELIMIT_KEY_PREFIX"])
            erasure_redis.forget_jobs(redis, result["related_ids"])
            redis_parts.append(time.perf_counter() - redis_start)
            db.session.commit()
            totals.append(time.perf_counter() - start)
        ms = lambda values: f"{benchlib.median(values) * 1000:.0f} / {benchlib.percentile(values, 95) * 1000:.0f}"  # noqa: E731
        benchlib.print_table(
            f"erasure on {benchlib.backend_name(app)} ({args.contacts} contacts, {args.outbox} messages, "
            f"{args.jobs} jobs; {benchlib.load_note()})",
            [("whole erasure, ms (median / p95)", ms(totals)),
             ("  of which the outbox decrypt-scan", ms(outbox_scans)),
             ("  of which Redis (limits + jobs)", ms(redis_parts))])


if __name__ == "__main__":
    main()
