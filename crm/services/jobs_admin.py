"""What the admin jobs page shows and does: queues, workers, schedules, failed jobs.

Read from RQ's own registries in Redis. A failed job is shown by its id,
function, id arguments, exception type and the first line of its message (cut
before any SQL or parameters); nothing else of a job leaves Redis. Retry and
discard are audited. A mail job's retry first gives its Outbox row back
(``mail_delivery.reset_for_resend``): the row, not the job, decides what is sent.
"""
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import (DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry,
                         StartedJobRegistry)
from rq.serializers import JSONSerializer

from ..errors import NotFound
from ..extensions import db
from ..redis_conn import get_redis
from ..security import audit

FAILED_SHOWN = 200


def _prepare_mail(job_id):
    from .mail_delivery import reset_for_resend

    reset_for_resend(uuid.UUID(job_id.removeprefix("mail-")))


# job id prefix -> prepare(job_id), run before a failed job is retried
RETRY_PREPARERS = {"mail-": _prepare_mail}


def retry_preparer(prefix):
    """Register ``func(job_id)`` to run before a failed job whose id starts with ``prefix`` is retried."""

    def register(func):
        RETRY_PREPARERS[prefix] = func
        return func

    return register


@dataclass(frozen=True)
class QueueRow:
    name: str
    queued: int
    started: int
    scheduled: int
    deferred: int
    failed: int
    finished: int


@dataclass(frozen=True)
class WorkerRow:
    name: str
    state: str
    queues: str
    current_job: str | None
    last_heartbeat: datetime | None
    alive: bool


@dataclass(frozen=True)
class ScheduleRow:
    what: str
    queue: str
    every: str
    next_at: str | None


@dataclass(frozen=True)
class FailedRow:
    job_id: str
    queue: str
    func: str
    args: str
    error_type: str
    error: str
    ended_at: datetime | None


def _conn():
    return get_redis(current_app)


def _registries(name, conn):
    kwargs = dict(connection=conn, serializer=JSONSerializer)
    return (StartedJobRegistry(name, **kwargs), ScheduledJobRegistry(name, **kwargs),
            DeferredJobRegistry(name, **kwargs), FailedJobRegistry(name, **kwargs),
            FinishedJobRegistry(name, **kwargs))


def queues():
    conn = _conn()
    rows = []
    for name in current_app.config["RQ_QUEUES"]:
        queue = Queue(name, connection=conn, serializer=JSONSerializer)
        started, scheduled, deferred, failed, finished = (r.count for r in _registries(name, conn))
        rows.append(QueueRow(name, queue.count, started, scheduled, deferred, failed, finished))
    return rows


def workers(now=None):
    """Registered workers; alive means a heartbeat within the last two minutes."""
    now = now or datetime.now(UTC)
    rows = []
    for worker in Worker.all(connection=_conn(), serializer=JSONSerializer):
        beat = worker.last_heartbeat
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        alive = beat is not None and (now - beat).total_seconds() < 120
        rows.append(WorkerRow(worker.name, str(getattr(worker.get_state(), "value", worker.get_state())),
                              ", ".join(worker.queue_names()), worker.get_current_job_id(), beat, alive))
    return sorted(rows, key=lambda r: r.name)


def schedules():
    """Cron entries of the running cron schedulers, then one-off jobs scheduled for later."""
    conn = _conn()
    rows = []
    for scheduler in CronScheduler.all(conn):
        for cron_job in scheduler.get_jobs():
            every = cron_job.cron or (f"{cron_job.interval} s" if cron_job.interval else "")
            nxt = cron_job.next_enqueue_time
            rows.append(ScheduleRow(cron_job.func_name, cron_job.queue_name, every,
                                    nxt.strftime("%Y-%m-%d %H:%M:%S") if nxt else None))
    for name in current_app.config["RQ_QUEUES"]:
        registry = ScheduledJobRegistry(name, connection=conn, serializer=JSONSerializer)
        for job_id in registry.get_job_ids(0, 99):
            try:
                at = registry.get_scheduled_time(job_id)
            except NoSuchJobError:
                continue
            rows.append(ScheduleRow(job_id, name, "once", at.strftime("%Y-%m-%d %H:%M:%S")))
    return rows


_CUT = re.compile(r"\s*(\[SQL:|\[parameters:|\(Background on this error).*", re.S)


def _error_of(job):
    """(exception type, first line of its message) from the job's traceback text."""
    text = ""
    result = job.latest_result() if hasattr(job, "latest_result") else None
    if result is not None and getattr(result, "exc_string", None):
        text = result.exc_string
    text = text or job.exc_info or ""
    last = [line for line in text.strip().splitlines() if line.strip()][-1:] or [""]
    head, _, message = last[0].partition(":")
    error_type = head.strip().rsplit(".", 1)[-1] or "?"
    return error_type[:80], _CUT.sub("", message.strip())[:200]


def _id_args(job):
    """The job's arguments when they are ids (all of ours are); anything else stays hidden."""
    shown = []
    for arg in job.args or ():
        if isinstance(arg, int) and not isinstance(arg, bool):
            shown.append(str(arg))
            continue
        try:
            shown.append(str(uuid.UUID(str(arg))))
        except ValueError:
            return "(hidden)"
    return ", ".join(shown)


def failed_jobs():
    conn = _conn()
    rows = []
    for name in current_app.config["RQ_QUEUES"]:
        registry = FailedJobRegistry(name, connection=conn, serializer=JSONSerializer)
        for job_id in registry.get_job_ids(0, FAILED_SHOWN - 1):
            try:
                job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
            except NoSuchJobError:
                continue
            error_type, error = _error_of(job)
            rows.append(FailedRow(job.id, name, job.func_name, _id_args(job), error_type, error, job.ended_at))
    return rows


def _failed_job(job_id):
    conn = _conn()
    for name in current_app.config["RQ_QUEUES"]:
        registry = FailedJobRegistry(name, connection=conn, serializer=JSONSerializer)
        if job_id in registry:
            return registry
    raise NotFound()


def retry(job_id):
    """Run a failed job again, its preparer first; audited.

    Commits before queuing: a worker must find the row already given back.
    """
    registry = _failed_job(job_id)
    for prefix, prepare in RETRY_PREPARERS.items():
        if job_id.startswith(prefix):
            prepare(job_id)
            break
    audit.record("job.retry", "job", job_id, queue=registry.name)
    db.session.commit()
    registry.requeue(job_id)


def discard(job_id):
    """Forget a failed job (its database row, if any, stays failed and visible); audited."""
    registry = _failed_job(job_id)
    registry.remove(job_id, delete_job=True)
    audit.record("job.discard", "job", job_id, queue=registry.name)
