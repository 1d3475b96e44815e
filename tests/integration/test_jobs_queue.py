"""Jobs are queued by name with ids only, as JSON, and only once the transaction commits."""
import json
import uuid
import zlib

import pytest
from rq.job import Job

from crm import jobs
from crm.extensions import db
from crm.models import AuditEvent
from crm.redis_conn import get_redis
from crm.security import audit


def _queued(app, name="maintenance"):
    return jobs.get_queue(name, app).get_job_ids()


def test_job_waits_for_the_commit(app):
    jobs.enqueue("workers.jobs.rotate_keys", 7, queue="maintenance", job_id="rotate-keys-test")
    audit.record("test.enqueue", "thing", 7)
    assert _queued(app) == []
    db.session.commit()
    assert _queued(app) == ["rotate-keys-test"]
    job = Job.fetch("rotate-keys-test", connection=get_redis(app), serializer=jobs.JSONSerializer)
    assert (job.func_name, job.args, job.description) == ("workers.jobs.rotate_keys", [7], "workers.jobs.rotate_keys")


def test_rollback_drops_the_job(app):
    jobs.enqueue("workers.jobs.rotate_keys", 7, queue="maintenance")
    db.session.rollback()
    db.session.commit()
    assert _queued(app) == []


def test_job_payload_in_redis_is_json_not_pickle(app):
    row_id = uuid.uuid4()
    jobs.enqueue_now("workers.jobs.rotate_keys", row_id, queue="maintenance", job_id="json-check")
    raw = get_redis(app).hget("rq:job:json-check", "data")
    payload = json.loads(zlib.decompress(raw))
    assert payload[0] == "workers.jobs.rotate_keys" and payload[2] == [str(row_id)]


@pytest.mark.parametrize("bad", ["ala@example.org", 3.5, True, b"x", {"id": 1}])
def test_job_arguments_are_ids_only(app, bad):
    with pytest.raises(TypeError, match="ids only"):
        jobs.enqueue("workers.jobs.rotate_keys", bad)


def test_jobs_live_in_the_workers_package(app):
    with pytest.raises(ValueError, match="workers.jobs"):
        jobs.enqueue("os.system", 1)


def test_unreachable_redis_after_commit_keeps_the_commit(app, captured_logs):
    """The database already holds the work; a Redis outage must not turn a commit into a crash."""
    saved_client, saved_url = app.extensions["muster.redis"], app.config["REDIS_URL"]
    app.extensions["muster.redis"], app.config["REDIS_URL"] = None, "redis://127.0.0.1:1/0"
    try:
        audit.record("test.enqueue", "thing", 8)
        jobs.enqueue("workers.jobs.rotate_keys", 8, queue="maintenance")
        db.session.commit()
    finally:
        app.extensions["muster.redis"], app.config["REDIS_URL"] = saved_client, saved_url
    assert any("could not queue workers.jobs.rotate_keys after commit" in line for line in captured_logs)
    db.session.remove()
    assert db.session.query(AuditEvent).filter_by(action="test.enqueue").count() == 1
    assert _queued(app) == []


def test_a_queued_job_a_killed_worker_took_off_its_queue_counts_as_lost(app):
    """RQ moves a job to an intermediate list when a worker takes it; killed then, it stays
    "queued" there until RQ's maintenance, minutes later. The reconciler must not wait."""
    from datetime import UTC, datetime, timedelta

    from rq.serializers import JSONSerializer

    job = jobs.enqueue_now("workers.jobs.send_mail", uuid.uuid4(), queue="mail", job_id="mail-lost-test")
    assert jobs.job_is_live(job.id, started_within=60)  # waiting in its queue: live, however old
    redis = get_redis(app)
    queue_key = "rq:queue:mail"
    redis.lmove(queue_key, queue_key + ":intermediate", "RIGHT", "LEFT")  # what a dequeue does
    assert jobs.job_is_live(job.id, started_within=60)  # just taken: a live worker may be on it
    job = Job.fetch(job.id, connection=redis, serializer=JSONSerializer)
    job.enqueued_at = datetime.now(UTC) - timedelta(seconds=120)
    job.save()
    assert not jobs.job_is_live(job.id, started_within=60)
    assert jobs.job_is_live(job.id)  # without a grace, RQ's word is taken as it is
