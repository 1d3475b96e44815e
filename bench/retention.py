"""Retention by stage among many contacts: the 30-day forecast, the archive pass, erasures.

Seeds ``--contacts`` people (bulk, encrypted and indexed) whose paths are spread over the
stages (about a third closed, half still interested) and whose creation and stage history
are spread over the last three years. Then times, on the same data:

- the admin page's forecast (``retention.forecast``: the activity UNION, the grouping,
  the rules), median of three runs, and loading the 100 rows it shows;
- the daily job's archive pass (``archive_due``: everything due now, in batches);
- ``--erasures`` erasures by the job (``erase_due``, one batch, Redis clean-up included).

Usage: .venv/bin/python bench/retention.py [--database-url URL] [--redis-url URL]
       [--contacts N] [--erasures N]
"""
import random
import time
from datetime import timedelta

import benchlib
from sqlalchemy import select, update

from crm.extensions import db
from crm.models import Contact, ContactIndex, PathChoice, StageChange
from crm.models.base import utcnow
from crm.redis_conn import get_redis
from crm.services import erasure_redis, retention

BATCH = 1000
STAGES = ["declined"] * 2 + ["withdrawn"] + ["interested"] * 5 + ["contacted", "active"]
PERIODS = retention.Periods(declined=timedelta(days=365), withdrawn=timedelta(days=365),
                            stale=timedelta(days=730), grace=timedelta(days=90))


def seed(args, rng):
    start = time.perf_counter()
    benchlib.seed_people(args.contacts, rng)
    now = utcnow()
    ids = list(db.session.scalars(select(Contact.id)))
    for first in range(0, len(ids), BATCH):
        for contact_id in ids[first:first + BATCH]:
            at = now - timedelta(days=rng.uniform(0, 3 * 365))
            choices = select(PathChoice.id).where(PathChoice.contact_id == contact_id)
            db.session.execute(update(Contact).where(Contact.id == contact_id).values(created_at=at))
            db.session.execute(update(ContactIndex).where(ContactIndex.contact_id == contact_id)
                               .values(contact_created_at=at))  # the index rows' copy (decision 0026)
            db.session.execute(update(PathChoice).where(PathChoice.contact_id == contact_id)
                               .values(stage=rng.choice(STAGES)))
            db.session.execute(update(StageChange).where(StageChange.path_choice_id.in_(choices)).values(at=at))
        db.session.commit()
    return time.perf_counter() - start


def main():
    p = benchlib.parser(__doc__.split("\n")[0], contacts=20_000)
    p.add_argument("--erasures", type=int, default=50, help="people erased by the job (default 50)")
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        rng = random.Random(24)
        seconds = seed(args, rng)
        print(f"seeded {args.contacts} contacts in {seconds:.1f} s")
        forecasts = []
        for _ in range(3):
            db.session.remove()
            took, forecast = benchlib.timed(retention.forecast, PERIODS)
            forecasts.append(took)
        shown = [d.contact_id for d in forecast.archive[:retention.SHOWN]]
        db.session.remove()
        start = time.perf_counter()
        rows = list(db.session.scalars(select(Contact).where(Contact.id.in_(shown))))
        names = [c.full_name for c in rows]
        load = time.perf_counter() - start

        db.session.remove()
        archive_time, archived = benchlib.timed(retention.archive_due, PERIODS, utcnow(), 200)

        # Let ``--erasures`` of the archived people reach the end of their grace.
        doomed = list(db.session.scalars(select(Contact.id).where(Contact.archived_at.is_not(None))
                                         .order_by(Contact.id).limit(args.erasures)))
        db.session.execute(update(Contact).where(Contact.id.in_(doomed))
                           .values(archived_at=utcnow() - timedelta(days=91)))
        db.session.commit()
        redis = get_redis(app)

        def forget(results):
            tokens = [t for r in results for t in r["tokens"]]
            related = set().union(*(r["related_ids"] for r in results))
            erasure_redis.forget_rate_limits(redis, tokens, app.config["RATELIMIT_KEY_PREFIX"])
            erasure_redis.forget_jobs(redis, related)

        db.session.remove()
        erase_time, erased = benchlib.timed(retention.erase_due, PERIODS, utcnow(), 200, forget)
        benchlib.print_table(
            f"retention on {benchlib.backend_name(app)} ({args.contacts} contacts; {benchlib.load_note()})",
            [("forecast (30 days), s (median of 3)", f"{benchlib.median(forecasts):.2f}"),
             ("  due in 30 days: archive / erase", f"{len(forecast.archive)} / {len(forecast.erase)}"),
             (f"load and decrypt the {len(names)} names shown, ms", f"{load * 1000:.0f}"),
             (f"archive pass: {archived} archived, s", f"{archive_time:.2f}"),
             (f"erase pass: {erased} erased, ms per person", f"{erase_time / max(erased, 1) * 1000:.0f}")])


if __name__ == "__main__":
    main()
