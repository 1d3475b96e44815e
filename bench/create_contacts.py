"""Contacts created per second, in committed batches of 1,000, all fields encrypted and indexed.

Three ways in, each on empty tables:

- bulk: ``crm.services.contacts.create_contacts_bulk`` (what ``flask crm demo``
  and imports use): validated, 9 fields encrypted, 4 blind indexes, path choices
  and their history rows, one commit per batch;
- orm: ``build_contact`` + ``session.add_all`` + flush per batch, the per-object
  ORM path the seeding used before the bulk service existed;
- service: ``create_contact`` one by one (duplicate lookups through the indexes
  and an audit event each), one commit per batch; run on ``--service-contacts``.

The synthetic people are generated before the clock starts. rows/s is wall
time; rows/cpu-s divides by the CPU time of this process plus, for a local
PostgreSQL, of its server backend: a figure that moves far less than wall time
when the machine is shared (roughly the rate with one idle core; WAL writer
and checkpointer work is not counted). Peak memory is the
process's peak RSS (``resource``), and the Python heap peak while one batch is
built (``tracemalloc``, measured on a separate batch so it does not slow the run).

Usage: .venv/bin/python bench/create_contacts.py [--database-url URL] [--contacts N]
"""
import random
import resource
import time
import tracemalloc

from sqlalchemy import delete, func, select

import benchlib
from crm.extensions import db
from crm.models import Contact, ContactIndex, PathChoice, StageChange
from crm.models.audit import AuditEvent
from crm.services import contacts as contact_service
from crm.services.demo import fake_person

BATCH = 1000


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _empty_tables():
    db.session.remove()
    for model in (StageChange, PathChoice, ContactIndex, AuditEvent, Contact):
        db.session.execute(delete(model))
    db.session.commit()


def _bulk(batch):
    contact_service.create_contacts_bulk(batch)


def _orm(batch):
    db.session.add_all([contact_service.build_contact(d) for d in batch])
    db.session.flush()


def _service(batch):
    for data in batch:
        contact_service.create_contact(data)


MODES = {"bulk": _bulk, "orm": _orm, "service": _service}


def run(mode, people):
    """Create ``people`` in batches of BATCH with one commit each; return figures."""
    _empty_tables()
    create = MODES[mode]
    batch_seconds = []
    server_pid, server_start = benchlib.server_cpu()
    cpu_start = time.process_time()
    start = time.perf_counter()
    for i in range(0, len(people), BATCH):
        t0 = time.perf_counter()
        create(people[i:i + BATCH])
        db.session.commit()
        db.session.expunge_all()
        batch_seconds.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    pid_after, server_end = benchlib.server_cpu()
    server = server_end - server_start if pid_after == server_pid else float("nan")
    rows = db.session.scalar(select(func.count()).select_from(Contact))
    index_rows = db.session.scalar(select(func.count()).select_from(ContactIndex))
    assert rows == len(people), f"{mode}: {rows} contacts stored, {len(people)} expected"
    return {
        "rows/s": len(people) / elapsed,
        "rows/cpu-s": len(people) / (cpu + server),
        "seconds": elapsed,
        "batch ms (median)": 1000 * benchlib.median(batch_seconds),
        "index rows/contact": index_rows / rows,
    }


def heap_peak_mb(mode, people):
    """Python heap peak while one batch is created and committed (tracemalloc)."""
    _empty_tables()
    tracemalloc.start()
    MODES[mode](people[:BATCH])
    db.session.commit()
    db.session.expunge_all()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main():
    p = benchlib.parser(__doc__.split("\n")[0], contacts=20_000)
    p.add_argument("--service-contacts", type=int, default=3000,
                   help="contacts for the one-by-one service mode (default 3000; 0 skips it)")
    p.add_argument("--modes", default="bulk,orm,service", help="comma-separated subset of bulk,orm,service")
    args = p.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    with benchlib.bench_app(args) as app:
        rng = random.Random(11)
        people = [fake_person(rng, i) for i in range(args.contacts)]
        rows = []
        for mode in modes:
            subset = people[:args.service_contacts] if mode == "service" else people
            if not subset:
                continue
            figures = run(mode, subset)
            heap = heap_peak_mb(mode, people)
            rows.append((mode, len(subset), f"{figures['rows/s']:.0f}", f"{figures['rows/cpu-s']:.0f}",
                         f"{figures['seconds']:.1f}",
                         f"{figures['batch ms (median)']:.0f}", f"{figures['index rows/contact']:.1f}",
                         f"{heap:.1f}", f"{_peak_rss_mb():.0f}"))
        _empty_tables()
        benchlib.print_table(
            f"Contacts created ({benchlib.backend_name(app)}, batches of {BATCH}, one commit per batch; "
            f"{benchlib.load_note()})",
            rows, headers=("mode", "contacts", "rows/s", "rows/cpu-s", "seconds", "batch ms", "idx rows/contact",
                           "heap peak MB/batch", "peak RSS MB"))


if __name__ == "__main__":
    main()
