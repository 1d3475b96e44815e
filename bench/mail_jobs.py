"""Mail sending through real RQ workers and a real SMTP server on loopback.

For one and then two worker processes (``python -m workers.worker --burst mail``),
queue ``--mails`` messages with ``queue_mail`` (rendered, encrypted, one Outbox
row and one job each), start the workers and time until they have drained the
queue: jobs/s including worker start-up, plus the time to queue them. Every
message must have arrived once at the aiosmtpd server; the script says so.

Usage: .venv/bin/python bench/mail_jobs.py [--database-url URL] [--redis-url URL] [--mails 300]
"""
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from urllib.parse import quote

import benchlib
from crm.extensions import db
from crm.models import Outbox
from crm.redis_conn import get_redis, url_of
from crm.services import mail


class Sink:
    """An aiosmtpd handler that counts Message-IDs."""

    def __init__(self):
        self.ids = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                with self.lock:
                    self.ids[line.split(b":", 1)[1].strip()] += 1
                break
        return "250 OK"


def start_smtp():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink, port


def worker_env(app, port):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        url += ("&" if "?" in url else "?") + "options=" + quote(f"-csearch_path={benchlib.PG_SCHEMA}")
    return dict(os.environ, DATABASE_URL=url, REDIS_URL=url_of(get_redis(app)),
                MUSTER_KEYRING_FILE=app.config["MUSTER_KEYRING_FILE"], MUSTER_KEYRING="",
                MUSTER_INSTANCE_DIR=app.config["INSTANCE_DIR"], MUSTER_ENV="development",
                MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=str(port), LOG_LEVEL="WARNING",
                PYTHONPATH=str(benchlib.ROOT))


def run(app, workers, mails, port, sink, label):
    queue_seconds, _ = benchlib.timed(queue_batch, label, mails)
    env = worker_env(app, port)
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "workers.worker", "--burst", "mail"], cwd=benchlib.ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=1800)
        if proc.returncode:
            sys.exit(f"worker failed: {err.decode()[-2000:]}")
    seconds = time.perf_counter() - start
    db.session.expire_all()
    sent = db.session.query(Outbox).filter(Outbox.idempotency_key.like(f"{label}:%"),
                                           Outbox.status == "sent").count()
    db.session.rollback()
    return queue_seconds, seconds, sent


def queue_batch(label, mails):
    for i in range(mails):
        mail.queue_mail(key=f"{label}:{i}", kind="system.test", to=f"bench-{i}@example.org",
                        template="system/test_message", context={"reference": f"{label}-{i}"})
        if i % 200 == 199:
            db.session.commit()
    db.session.commit()


def main():
    parser = benchlib.parser(__doc__.splitlines()[0], contacts=0)
    parser.add_argument("--mails", type=int, default=300, help="messages per run (default 300)")
    args = parser.parse_args()
    controller, sink, port = start_smtp()
    try:
        with benchlib.bench_app(args) as app:
            app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
            rows = []
            for workers in (1, 2):
                queue_s, drain_s, sent = run(app, workers, args.mails, port, sink, f"w{workers}")
                rows.append((f"{workers} worker{'s' if workers > 1 else ''}", f"{args.mails}",
                             f"{args.mails / queue_s:.0f}", f"{drain_s:.1f}", f"{args.mails / drain_s:.1f}",
                             f"{sent}"))
            twice = sum(1 for n in sink.ids.values() if n > 1)
            benchlib.print_table(
                f"Mail jobs on {benchlib.backend_name(app)} ({benchlib.load_note()}); "
                f"received {sum(sink.ids.values())}, duplicates {twice}",
                rows, headers=("workers", "mails", "queued/s", "drain s", "jobs/s", "sent"))
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
