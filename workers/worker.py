"""Worker entry point: ``python -m workers.worker [--burst] [QUEUE ...]``.

Uses RQ's JSON serializer, turns job-description logging off (descriptions can
repeat arguments), and builds the app once before forking, so every job child
starts with configured mappers.
"""
import argparse
import sys

from rq import Worker
from rq.serializers import JSONSerializer
from sqlalchemy.orm import configure_mappers

from crm.errors import ConfigurationError
from crm.redis_conn import get_redis
from workers.context import get_app


def build_worker(app, queue_names=None, name=None):
    queue_names = queue_names or list(app.config["RQ_QUEUES"])
    return Worker(
        queue_names,
        connection=get_redis(app),
        serializer=JSONSerializer,
        log_job_description=False,
        name=name,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run a Muster RQ worker.")
    parser.add_argument("queues", nargs="*", help="queues to listen on (default: all)")
    parser.add_argument("--burst", action="store_true", help="quit when the queues are empty")
    parser.add_argument("--name", help="worker name (default: host and pid)")
    args = parser.parse_args(argv)
    try:
        app = get_app()
        with app.app_context():
            configure_mappers()
            worker = build_worker(app, args.queues, args.name)
    except ConfigurationError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    worker.work(burst=args.burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
