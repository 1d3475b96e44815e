"""Follow-up rules and staff digests: how fast the database turns stage entries into work.

Three figures:

- batch: ``apply_rules_batch`` over ``--followups`` stage changes (contacts created
  with ``create_contacts_bulk``, one path each, so no per-change job was queued):
  seconds and follow-ups/s, the path imports and the reconciler take;
- jobs: ``--jobs`` ``workers.jobs.apply_followup_rules`` jobs (one per stage change,
  what capture and triage queue), drained by one and then by two real burst
  workers (``python -m workers.worker --burst default``): jobs/s, start-up included;
- digest: ``send_daily_digests`` for ``--staff`` staff members over ``--contacts``
  contacts with one open follow-up each (due dates spread over -10..+30 days):
  seconds for the grouped count query, rendering and the encrypted Outbox rows,
  committed (the mail jobs are queued, not sent).

Usage: .venv/bin/python bench/followup_rules.py [--database-url URL] [--redis-url URL]
       [--contacts 100000] [--staff 200] [--followups 10000] [--jobs 300]
"""
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

import benchlib
from crm.extensions import db
from crm.jobs import enqueue_now, get_queue
from crm.models import Contact, FollowUp, FollowUpRule, PathChoice, StageChange, User
from crm.models.base import utcnow
from crm.models.bulk import insert_rows
from crm.redis_conn import get_redis, url_of
from crm.services import contacts as contact_service
from crm.services import followup_firing, followup_mail, followup_rules

BATCH = 1000


def _contacts(count, path="volunteering", assignees=None):
    """Create ``count`` contacts with one path (bulk), shared out evenly among ``assignees``;
    return their stage change ids."""
    ids, share = [], max(1, count // len(assignees)) if assignees else None
    for start in range(0, count, BATCH):
        datas = [contact_service.ContactData(full_name=f"Bench Person {start + n}", paths=(path,))
                 for n in range(min(BATCH, count - start))]
        created = contact_service.create_contacts_bulk(datas)
        for offset in range(0, len(created), share or len(created)):
            if assignees:
                owner = assignees[((start + offset) // share) % len(assignees)]
                db.session.execute(update(Contact).where(Contact.id.in_(created[offset:offset + share]))
                                   .values(assignee_id=owner))
        db.session.commit()
        ids += db.session.scalars(select(StageChange.id).join(PathChoice)
                                  .where(PathChoice.contact_id.in_(created)))
    return ids


def _staff(count):
    rows = [{"id": uuid.uuid4(), "login": f"bench-staff-{n:03d}", "password_hash": "!", "role": "staff",
             "restricted_clearance": False, "active": True, "must_change_password": False}
            for n in range(count)]
    insert_rows(db.session, User.__table__, rows)
    db.session.commit()
    for user in db.session.scalars(select(User).where(User.login.like("bench-staff-%"))):
        user.email = f"{user.login}@staff.test"
    db.session.commit()
    return [row["id"] for row in rows]


def bench_batch(count):
    changes = _contacts(count)
    seconds, result = benchlib.timed(followup_firing.apply_rules_batch, changes)
    db.session.commit()
    assert result["created"] == count, result
    return [("stage changes", count), ("follow-ups created", result["created"]),
            ("seconds", f"{seconds:.2f}"), ("follow-ups/s", f"{count / seconds:,.0f}")]


def _worker_env(app):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{benchlib.PG_SCHEMA}"
    return dict(os.environ, DATABASE_URL=url, REDIS_URL=url_of(get_redis(app)),
                MUSTER_KEYRING_FILE=app.config["MUSTER_KEYRING_FILE"], MUSTER_KEYRING="",
                MUSTER_INSTANCE_DIR=app.config["INSTANCE_DIR"], MUSTER_ENV="development", LOG_LEVEL="WARNING",
                PYTHONPATH=str(benchlib.ROOT))


def _drain(app, workers):
    """Seconds for ``workers`` burst workers to start, empty the default queue and stop."""
    env = _worker_env(app)
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "workers.worker", "--burst", "default"], cwd=benchlib.ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
    errors = [p.communicate()[1] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(b"\n".join(errors).decode()[-2000:])
    return time.perf_counter() - start


def bench_jobs(app, count, workers):
    """(seconds with start-up, start-up seconds on an empty queue) for ``count`` rule jobs."""
    get_queue("default", app).empty()
    idle = _drain(app, workers)
    changes = _contacts(count, path="joint_projects")
    get_queue("default", app).empty()
    for change_id in changes:
        enqueue_now("workers.jobs.apply_followup_rules", change_id, retries=0)
    seconds = _drain(app, workers)
    db.session.remove()
    made = db.session.scalar(select(func.count()).select_from(FollowUp)
                             .where(FollowUp.stage_change_id.in_(changes)))
    assert made == count, (made, count)
    return seconds, idle


def bench_digest(contacts, staff):
    staff_ids = _staff(staff)
    _contacts(contacts, path="volunteering", assignees=staff_ids)
    rng, now = random.Random(7), utcnow()
    rows = []
    for contact_id, assignee_id in db.session.execute(select(Contact.id, Contact.assignee_id)
                                                      .where(Contact.assignee_id.is_not(None))):
        rows.append({"id": uuid.uuid4(), "contact_id": contact_id, "path": "volunteering", "kind": "call",
                     "due_at": now + timedelta(days=rng.randint(-10, 30), hours=rng.randint(0, 23)),
                     "assignee_id": assignee_id, "status": "open", "created_at": now, "updated_at": now})
    for start in range(0, len(rows), 10_000):
        insert_rows(db.session, FollowUp.__table__, rows[start:start + 10_000])
    db.session.commit()

    def digest():
        result = followup_mail.send_daily_digests(now.date())
        db.session.commit()
        return result

    seconds, result = benchlib.timed(digest)
    return [("staff", staff), ("contacts", contacts), ("open follow-ups", len(rows)),
            ("digests queued", result["queued"]), ("seconds (query, render, encrypt, commit)", f"{seconds:.2f}")]


def main():
    p = benchlib.parser(__doc__.splitlines()[0], contacts=100_000)
    p.add_argument("--staff", type=int, default=200)
    p.add_argument("--followups", type=int, default=10_000)
    p.add_argument("--jobs", type=int, default=300)
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        app.config["STAFF_BASE_URL"] = "https://muster.example"
        name = benchlib.backend_name(app)
        print(f"backend {name}; {benchlib.load_note()}")
        followup_rules.seed_defaults()
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(FollowUpRule)) >= 4
        benchlib.print_table(f"{args.followups:,} follow-ups from rules, batch path ({name})",
                             bench_batch(args.followups))
        rows = []
        for workers in (1, 2):
            seconds, idle = bench_jobs(app, args.jobs, workers)
            rows.append((f"{workers} worker{'s' if workers > 1 else ''}", f"{args.jobs}", f"{seconds:.1f}",
                         f"{idle:.1f}", f"{args.jobs / seconds:,.1f}", f"{args.jobs / max(seconds - idle, 0.01):,.1f}"))
        benchlib.print_table(f"rule jobs drained by burst workers ({name}; {benchlib.load_note()})", rows,
                             headers=("workers", "jobs", "seconds", "start-up s", "jobs/s", "jobs/s after start-up"))
        benchlib.print_table(f"daily digest ({name}; {benchlib.load_note()})", bench_digest(args.contacts, args.staff))


if __name__ == "__main__":
    main()
