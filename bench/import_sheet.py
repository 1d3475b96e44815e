"""Import a synthetic sign-up sheet end to end: rows/s, peak memory, duplicates found.

    python bench/import_sheet.py --contacts 100000 [--database-url postgresql+psycopg://...]
    python bench/import_sheet.py --contacts 1000 --existing 100000   # a meeting's sheet, a full database

The sheet (CSV, semicolons, UTF-8) has ``--contacts`` rows: 10% repeat an earlier
row of the file (same email in other case, or same phone in another format) and 2%
are broken (bad email or phone). It is uploaded through ``imports.upload`` (stored
encrypted, read through once) and imported with ``imports.process`` exactly like
``flask crm import``: every field encrypted, every index written, a commit per batch.
Peak memory is the process's peak RSS (ru_maxrss; it includes SQLite's page cache and
the allocator's arenas), and with ``--tracemalloc`` the Python heap's peak during the
import (slower); run once per size to compare.
"""
import random
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid

from benchlib import backend_name, backends_cpu, backends_cpu_since, bench_app, load_note, parser, print_table

from crm.extensions import db
from crm.jobs import get_queue
from crm.services import duplicate_pairs, imports

FIRST = ["Jan", "Anna", "Ales", "Hanna", "Piotr", "Olga", "Siarhei", "Maryia", "Tomas", "Ewa", "Ihar", "Zofia"]
LAST = ["Kowalski", "Nowak", "Shypila", "Rak", "Zielinski", "Kupala", "Bykau", "Lis", "Wolski", "Sadouski"]
CITIES = ["Warszawa", "Vilnius", "Krakow", "Gdansk", "Bialystok", "Wroclaw", "Berlin", "Praha"]
PATHS = ["volunteering", "wolontariat", "валанцёрства", "projects", "wspólne projekty"]


def _syllables(rng):
    return "".join(rng.choice(("ka", "lo", "vi", "ski", "na", "ro", "ta", "mi", "sha", "zu")) for _ in range(3))


def write_sheet(path, rows, seed=7, prefix="person", first_phone=600000000):
    """The sheet; returns (duplicate rows, broken rows) written. ``prefix`` and ``first_phone``
    keep the people of two sheets apart (``--existing``)."""
    rng = random.Random(seed)
    people, duplicates, broken = [], 0, 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("Imię i nazwisko;E-mail;Telefon;Miasto;Ścieżka\n")
        for n in range(rows):
            roll = rng.random()
            if roll < 0.10 and people:
                name, email, phone, city = rng.choice(people)
                duplicates += 1
                if rng.random() < 0.5:
                    fh.write(f"{name};{email.upper()};;{city};{rng.choice(PATHS)}\n")
                else:
                    fh.write(f"{name};;{phone.replace('+48', '0048').replace(' ', '')};{city};\n")
                continue
            if roll < 0.12:
                broken += 1
                fh.write(f"Broken Row{n};not-an-email-{n};;;\n")
                continue
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}{_syllables(rng)}"
            email = f"{prefix}{n}@example.org"
            digits = f"{first_phone + n:09d}"
            phone = f"+48 {digits[:3]} {digits[3:6]} {digits[6:]}"
            city = rng.choice(CITIES)
            people.append((name, email, phone, city))
            if len(people) > 5000:
                people.pop(0)
            fh.write(f"{name};{email};{phone};{city};{rng.choice(PATHS)}\n")
    return duplicates, broken


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _record_pairs():
    """Run the queued pairs jobs of the import's batches here, as the worker would; (pairs, CPU s)."""
    server_before = backends_cpu()
    cpu_start = time.process_time()
    pairs = 0
    for job in get_queue("default").get_jobs():
        if job.func_name == duplicate_pairs.IMPORT_PAIRS_JOB:
            import_id, first, last = job.args
            pairs += duplicate_pairs.record_import_batch(db.session, uuid.UUID(import_id), first, last)["pairs"]
            db.session.commit()
    return pairs, time.process_time() - cpu_start + backends_cpu_since(server_before)


def _seed(count):
    """``count`` other people in the database first: an untimed import of another sheet."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as sheet:
        write_sheet(sheet.name, count, seed=11, prefix="earlier", first_phone=700000000)
        with open(sheet.name, "rb") as source:
            run = imports.upload(source, "earlier.csv", None)
        imports.configure(run, run.mapping)
        run_id = run.id
        db.session.commit()
        for _ in imports.process(run_id, operator=True):
            db.session.commit()


def main():
    cli = parser(__doc__.splitlines()[0], contacts=100_000)
    cli.add_argument("--tracemalloc", action="store_true", help="also trace the Python heap's peak (slower)")
    cli.add_argument("--skip-pairs", action="store_true", help="do not run the pairs jobs afterwards")
    cli.add_argument("--existing", type=int, default=0, metavar="N",
                     help="import N other people first, untimed: a sheet into a database that is not empty")
    args = cli.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".csv") as sheet:
        duplicates, broken = write_sheet(sheet.name, args.contacts)
        with bench_app(args) as app:
            if args.existing:
                _seed(args.existing)
            server_before = backends_cpu()
            cpu_start = time.process_time()
            children_before = _children_cpu()
            start = time.perf_counter()
            with open(sheet.name, "rb") as source:
                run = imports.upload(source, "sheet.csv", None)
            imports.configure(run, run.mapping)
            run_id = run.id
            db.session.commit()
            uploaded = time.perf_counter()
            if args.tracemalloc:
                tracemalloc.start()
            blocks = []
            for _ in imports.process(run_id, operator=True):
                db.session.commit()
                blocks.append(sys.getallocatedblocks())
            end = time.perf_counter()
            own_cpu, backend_cpu = time.process_time() - cpu_start, backends_cpu_since(server_before)
            cpu = own_cpu + backend_cpu
            prepare_cpu = _children_cpu() - children_before
            heap_peak = tracemalloc.get_traced_memory()[1] / 2 ** 20 if args.tracemalloc else None
            tracemalloc.stop()
            summary = imports.summary(imports.get_run(run_id))
            pairs, pairs_cpu = (0, 0.0) if args.skip_pairs else _record_pairs()
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print_table(f"import of a {args.contacts:,}-row sheet on {backend_name(app)} ({load_note()})", [
                ("contacts in the database before (--existing)", f"{args.existing:,}"),
                ("rows in the sheet", f"{args.contacts:,}"),
                ("duplicates written / found (merged + in file)",
                 f"{duplicates:,} / {summary['merged'] + summary['duplicates_in_file']:,}"),
                ("broken written / rejected", f"{broken:,} / {summary['rejected']:,}"),
                ("created", f"{summary['created']:,}"),
                ("upload + read-through (s)", f"{uploaded - start:.1f}"),
                ("import (s)", f"{end - uploaded:.1f}"),
                ("rows/s end to end", f"{args.contacts / (end - start):,.0f}"),
                ("rows per CPU-second (this process + its PostgreSQL backends)", f"{args.contacts / cpu:,.0f}"),
                ("CPU seconds: this process / its PostgreSQL backends / the preparing process (0029)",
                 f"{own_cpu:.1f} / {backend_cpu:.1f} / {prepare_cpu:.1f}"),
                ("then the pairs jobs of its batches (0025): pairs / CPU seconds", f"{pairs:,} / {pairs_cpu:.1f}"),
                ("peak RSS (MB)", f"{peak_mb:,.0f}"),
                ("Python objects alive after each batch: first / largest / last (thousands)",
                 f"{blocks[0] / 1000:,.0f} / {max(blocks) / 1000:,.0f} / {blocks[-1] / 1000:,.0f}"),
            ] + ([("Python heap peak during the import (MB, tracemalloc)", f"{heap_peak:,.1f}")]
                 if heap_peak is not None else []))


if __name__ == "__main__":
    main()
