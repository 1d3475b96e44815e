"""Periodic jobs, run by RQ 3's cron scheduler: ``python -m workers.cron``.

Entries are registered with ``rq.cron.register`` so that ``rq cron workers.cron_config``
reads the same schedule; this module starts the scheduler with the app's Redis
(embedded or REDIS_URL) and the JSON serializer. Cron strings are local time.
"""
import functools
import sys

import rq.cron
from rq import Queue
from rq.cron import CronScheduler
from rq.serializers import JSONSerializer

from crm.errors import ConfigurationError
from crm.redis_conn import get_redis
from workers.context import get_app


def _enqueue_as_json():
    """RQ 3.0's CronJob enqueues with pickle; our workers read JSON only (no pickle in Redis)."""
    rq.cron.Queue = functools.partial(Queue, serializer=JSONSerializer)


def main():
    _enqueue_as_json()
    try:
        app = get_app()
        connection = get_redis(app)
    except ConfigurationError as exc:
        print(f"cron: {exc}", file=sys.stderr)
        return 2
    scheduler = CronScheduler(connection=connection, logging_level=app.config["LOG_LEVEL"])
    scheduler.load_config_from_file("workers.cron_config")
    scheduler.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
