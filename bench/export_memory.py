"""Peak memory of writing an export file (CSV, streamed XLSX, and the former in-memory XLSX).

    python bench/export_memory.py --contacts 100000

Synthetic rows of the export's ten widest columns (name, email, phone, city,
country, languages, skills, notes, paths, meetings) go through
``export_file.write_csv`` and ``export_file.write_xlsx`` into the encrypted
file store, as ``exports.build`` writes them; the Python heap's peak during the
write is traced (tracemalloc), with the time and the stored size. The former
XLSX writer (a whole openpyxl workbook in memory, then saved) is measured the
same way for comparison. Reading contacts from the database is not included:
it goes BATCH (500) contacts at a time either way.
"""
import io
import time
import tracemalloc
from datetime import timedelta

from benchlib import bench_app, load_note, parser, print_table

from crm.extensions import db
from crm.services import export_file, files


def synthetic_rows(count):
    for n in range(count):
        yield [f"Person{n} Kowalski", f"person{n}@example.org", f"+48 600 {n % 1000:03d} {n % 997:03d}",
               "Warszawa", "Poland", "pl, be, en", "translation, driving", f"=note {n} " * 4,
               "volunteering: interested", "2026-05-01 Warszawa; 2026-06-01 Vilnius"]


def in_memory_xlsx(sink, header, rows):
    """write_xlsx before it streamed: the workbook built whole with openpyxl, then saved."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook()
    sheet = workbook.active

    def clean(value):
        return ILLEGAL_CHARACTERS_RE.sub("", export_file.neutralise(value))

    sheet.append([clean(h) for h in header])
    count = 0
    for row in rows:
        sheet.append([clean(v) for v in row])
        count += 1
    for cells in sheet.iter_rows():
        for cell in cells:
            cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    sink.write(buffer.getvalue())
    return count


def measure(writer, count):
    header = [f"Column {i}" for i in range(10)]
    tracemalloc.start()
    start = time.perf_counter()
    with files.store_writer("export", None, timedelta(hours=1), content_type="bench") as sink:
        writer(sink, header, synthetic_rows(count))
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    size = sink.stored.size / 2 ** 20
    files.delete(sink.stored.id)
    db.session.commit()
    return peak, seconds, size


def main():
    cli = parser(__doc__.splitlines()[0], contacts=100_000)
    cli.add_argument("--sizes", default="10000,100000", help="row counts to write (default 10000,100000)")
    cli.add_argument("--skip-in-memory", action="store_true", help="leave out the former in-memory XLSX writer")
    args = cli.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    writers = [("CSV (streamed)", export_file.write_csv), ("XLSX (streamed)", export_file.write_xlsx)]
    if not args.skip_in_memory:
        writers.append(("XLSX (in memory, before)", in_memory_xlsx))
    with bench_app(args):
        table = []
        for count in sizes:
            for name, writer in writers:
                peak, seconds, size = measure(writer, count)
                table.append((name, f"{count:,}", f"{peak:,.1f}", f"{seconds:,.1f}", f"{size:,.1f}"))
        print_table(f"export file writers ({load_note()})", table,
                    headers=("writer", "rows", "Python heap peak (MB)", "seconds", "stored (MB)"))


if __name__ == "__main__":
    main()
