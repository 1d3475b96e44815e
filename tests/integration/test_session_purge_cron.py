"""Old staff session rows go by themselves: a daily cron job, run here by a real worker."""
from datetime import timedelta

from sqlalchemy import select, update

from crm.extensions import db
from crm.jobs import get_queue
from crm.models import UserSession
from crm.models.base import utcnow
from tests.auth_helpers import csrf_token


def test_the_schedule_holds_the_purge():
    import workers.cron_config  # noqa: F401 -- the schedule registers its jobs
    from rq.cron import _job_data_registry

    entries = [e for e in _job_data_registry if e["func"].__name__ == "purge_old_sessions"]
    assert entries
    assert all(e["queue_name"] == "maintenance" and e["interval"] == 24 * 3600 for e in entries)


def test_a_worker_deletes_old_rows_and_keeps_live_and_recent_ones(app, signed_in, run_worker):
    days = app.config["SESSION_RETENTION_DAYS"]
    ended = signed_in("staff", login="ended-long-ago")
    ended.post("/logout", data={"csrf_token": csrf_token(ended, "/account")})
    abandoned = signed_in("staff", login="abandoned")
    recent = signed_in("staff", login="ended-recently")
    recent.post("/logout", data={"csrf_token": csrf_token(recent, "/account")})
    live = signed_in("staff", login="live")
    long_ago = utcnow() - timedelta(days=days + 1)
    db.session.execute(update(UserSession).where(UserSession.user_id == ended.user.id)
                       .values(ended_at=long_ago, last_seen_at=long_ago))
    db.session.execute(update(UserSession).where(UserSession.user_id == abandoned.user.id)
                       .values(last_seen_at=long_ago))
    db.session.commit()
    keep = {recent.user.id, live.user.id}

    get_queue("maintenance").enqueue("workers.periodic.purge_old_sessions")
    run_worker("maintenance")

    db.session.remove()
    left = set(db.session.scalars(select(UserSession.user_id)))
    assert left == keep
    assert live.get("/home").status_code == 200
