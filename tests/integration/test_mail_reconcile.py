"""The reconciler puts lost mail back into Redis: the database is the truth."""
from datetime import timedelta

from sqlalchemy import update

from crm.extensions import db
from crm.jobs import get_queue
from crm.models import Outbox
from crm.models.base import utcnow
from crm.redis_conn import get_redis
from crm.services import mail, reconcile


def _queue_many(n):
    ids = [mail.queue_mail(key=f"rec:{i}", kind="system.test", to=f"rec-{i}@example.org",
                           template="system/test_message", context={"reference": str(i)}) for i in range(n)]
    db.session.commit()
    return ids


def _age(seconds):
    db.session.execute(update(Outbox).values(created_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def test_after_a_redis_flush_every_pending_mail_is_queued_and_sent(app, smtp_server, run_worker):
    ids = _queue_many(20)
    get_redis(app).flushdb()
    assert reconcile.run_all(app)["mail"] == 0  # younger than the grace period: maybe still committing
    _age(app.config["RECONCILE_GRACE_SECONDS"] + 1)
    assert reconcile.run_all(app)["mail"] == 20
    assert reconcile.run_all(app)["mail"] == 0  # their jobs are live now: nothing queued twice
    assert sorted(get_queue("mail", app).get_job_ids()) == sorted(mail.job_id_for(i) for i in ids)
    run_worker("mail")
    db.session.expire_all()
    assert {r.status for r in db.session.query(Outbox)} == {"sent"}
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(f"rec-{i}@example.org" for i in range(20))


def test_a_claim_whose_worker_died_before_data_is_taken_over(app, smtp_server, run_worker):
    (outbox_id,) = _queue_many(1)
    get_redis(app).flushdb()
    db.session.execute(update(Outbox).values(status="sending", claim_token="dead-worker",
                                             claimed_at=utcnow() - timedelta(hours=1), attempts=1))
    db.session.commit()
    assert reconcile.run_all(app)["mail"] == 1
    run_worker("mail")
    row = db.session.get(Outbox, outbox_id)
    db.session.refresh(row)
    assert (row.status, row.attempts) == ("sent", 2) and len(smtp_server.messages) == 1


def test_a_claim_that_died_during_data_is_failed_not_resent(app, smtp_server, run_worker):
    (outbox_id,) = _queue_many(1)
    get_redis(app).flushdb()
    long_ago = utcnow() - timedelta(hours=1)
    db.session.execute(update(Outbox).values(status="sending", claim_token="dead-worker", claimed_at=long_ago,
                                             data_started_at=long_ago, attempts=1))
    db.session.commit()
    assert reconcile.run_all(app)["mail"] == 1
    run_worker("mail")
    row = db.session.get(Outbox, outbox_id)
    db.session.refresh(row)
    assert row.status == "failed" and row.last_error.startswith("interrupted-during-send")
    assert smtp_server.messages == []


def test_a_failing_step_does_not_stop_the_others(app, monkeypatch):
    calls = []

    def broken(app, now):
        raise RuntimeError("boom")

    monkeypatch.setitem(reconcile.STEPS, "broken", broken)
    monkeypatch.setitem(reconcile.STEPS, "after", lambda app, now: calls.append(now) or 0)
    results = reconcile.run_all(app)
    assert results["broken"] == "error: RuntimeError" and results["after"] == 0 and calls
