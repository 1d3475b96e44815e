"""The only place the web side touches RQ.

``enqueue("workers.jobs.rotate_keys", rotation_id)`` queues a job by its dotted
name (so ``crm`` never imports ``workers``), with ids as the only arguments
(Redis keeps job arguments in the clear), RQ's JSON serializer (no pickle in
Redis), and only once the surrounding database transaction has committed: a
rollback drops it, and a fast worker never looks for a row that is not there yet.
"""
import functools
import logging
import uuid

import redis
from flask import current_app
from rq import Queue, Retry
from rq.serializers import JSONSerializer
from sqlalchemy import event
from sqlalchemy.orm import Session

from .errors import ConfigurationError
from .extensions import db
from .redis_conn import get_redis

log = logging.getLogger(__name__)
_PENDING = "muster_pending_jobs"
JOB_PACKAGE = "workers.jobs."


def _check_args(args):
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, (int, uuid.UUID)):
            raise TypeError(
                f"job arguments are ids only (int or UUID), not {type(arg).__name__}: "
                "never pass personal data to a job"
            )
    return [str(a) if isinstance(a, uuid.UUID) else a for a in args]


def get_queue(name="default", app=None):
    app = app or current_app
    return Queue(name, connection=get_redis(app), serializer=JSONSerializer)


def enqueue(func_name, *ids, queue="default", job_id=None, retries=3, timeout=None, session=None,
            retry_intervals=None):
    """Queue ``func_name(*ids)`` once the current transaction commits."""
    if not func_name.startswith(JOB_PACKAGE):
        raise ValueError(f"jobs live in {JOB_PACKAGE}*, not {func_name}")
    _check_args(ids)  # refuse anything but ids here, in the caller's frame
    spec = {
        "func": func_name, "args": list(ids), "queue": queue,
        "job_id": job_id, "retries": retries, "timeout": timeout, "retry_intervals": retry_intervals,
        "app": current_app._get_current_object(),
    }
    session = session or db.session
    session.connection()  # begin the transaction now: a rollback before any flush still drops the job
    session.info.setdefault(_PENDING, []).append(spec)
    return spec


def enqueue_in(delay, func_name, *ids, **options):
    """Like ``enqueue``, but the job runs ``delay`` (a timedelta) after the commit (RQ's scheduler)."""
    spec = enqueue(func_name, *ids, **options)
    spec["delay"] = delay
    return spec


def enqueue_now(func_name, *ids, queue="default", job_id=None, retries=3, timeout=None, app=None,
                retry_intervals=None, delay=None):
    """Queue a job at once, outside any transaction (CLI commands, the reconciler)."""
    app = app or current_app._get_current_object()
    config = app.config
    intervals = list(retry_intervals or [10, 60, 300])[:retries]
    retry = Retry(max=retries, interval=intervals) if retries else None
    rq_queue = get_queue(queue, app)
    put = rq_queue.enqueue if delay is None else functools.partial(rq_queue.enqueue_in, delay)
    return put(
        func_name, *_check_args(ids), job_id=job_id, retry=retry, job_timeout=timeout,
        failure_ttl=config["RQ_FAILURE_TTL"], result_ttl=config["RQ_RESULT_TTL"],
        description=func_name,  # the default description repeats the arguments
    )


@event.listens_for(Session, "after_commit")
def _send_pending_jobs(session):
    pending = session.info.pop(_PENDING, None)
    for spec in pending or ():
        app = spec.pop("app")
        try:
            with app.app_context():
                enqueue_now(spec["func"], *spec["args"], queue=spec["queue"],
                            job_id=spec["job_id"], retries=spec["retries"],
                            timeout=spec["timeout"], app=app, retry_intervals=spec["retry_intervals"],
                            delay=spec.get("delay"))
        except (redis.RedisError, ConfigurationError) as exc:
            # The database already holds the work; the reconciler queues it again.
            log.warning("could not queue %s after commit (%s)", spec["func"], exc.__class__.__name__)


@event.listens_for(Session, "after_rollback")
def _drop_pending_jobs(session):
    session.info.pop(_PENDING, None)


LIVE_STATUSES = ("queued", "started", "scheduled", "deferred")


def job_is_live(job_id, app=None, started_within=None):
    """True while RQ still holds ``job_id`` as queued, running or scheduled.

    With ``started_within`` (seconds), a job that started longer ago than that counts
    as dead: a worker killed outright leaves its job "started" until RQ's own
    clean-up, minutes later.
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    if not job_id:
        return False
    app = app or current_app._get_current_object()
    try:
        job = Job.fetch(job_id, connection=get_redis(app), serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    status = None if status is None else str(getattr(status, "value", status))
    if status == "started" and started_within is not None and job.started_at is not None:
        from datetime import UTC, datetime, timedelta

        started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
        return datetime.now(UTC) - started < timedelta(seconds=started_within)
    if status == "queued" and started_within is not None and not _waiting_in_queue(job, started_within):
        return False
    return status in LIVE_STATUSES


def _waiting_in_queue(job, grace_seconds):
    """Is a "queued" job really waiting? A worker killed right after taking it off its
    queue leaves it in RQ's intermediate list, still "queued", until RQ's own
    maintenance (up to ten minutes later): after ``grace_seconds`` it counts as lost."""
    from datetime import UTC, datetime, timedelta

    from rq.queue import Queue

    queue = Queue(job.origin, connection=job.connection, serializer=JSONSerializer)
    if job.connection.lpos(queue.key, job.id) is not None:
        return True
    enqueued = job.enqueued_at
    if enqueued is None:
        return False
    enqueued = enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC)
    return datetime.now(UTC) - enqueued < timedelta(seconds=grace_seconds)
