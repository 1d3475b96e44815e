"""The sheet reader never fails with anything but a clear SheetError, whatever the bytes."""
import codecs
import io

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crm.services.import_reader import (
    Sheet, SheetError, UnknownPath, detect_delimiter, detect_encoding, parse_paths, split_phones,
)

CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


def read_all(raw, name="x.csv"):
    try:
        sheet = Sheet.open(io.BytesIO(raw), name)
        return list(sheet.records())
    except SheetError as exc:
        assert str(exc)
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from(["x.csv", "x.xlsx", "x.txt"]))
def test_any_bytes_read_or_refused_clearly(raw, name):
    read_all(raw, name)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(CELL, min_size=1, max_size=6), min_size=1, max_size=8),
       st.sampled_from([",", ";", "\t"]), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_written_csv_reads_back(rows, delimiter, encoding):
    buffer = io.StringIO()
    import csv

    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)  # Excel's
    raw = buffer.getvalue().encode(encoding)
    records = read_all(raw)
    if records is None:
        return  # e.g. a sheet of blank cells only: refused as empty
    # One short line can be read with another delimiter (";," is two cells or two cells);
    # the comparison holds whenever the detected delimiter is the written one.
    assume(Sheet.open(io.BytesIO(raw), "x.csv").delimiter == delimiter)
    expected = [r for r in rows if any(c.strip() for c in r)]
    cells = [[c.replace("\r\n", "\n").replace("\r", "\n") for c in r] for _, r in records]
    if len(expected) == len(cells) and len({len(r) for r in rows}) == 1 and len(rows[0]) > 1:
        assert cells == [[c.replace("\r\n", "\n").replace("\r", "\n") for c in r] for r in expected]


def test_cyrillic_and_central_european_bytes_are_told_apart():
    samples = {
        "cp1251": ["Валанцёрства і сумесныя праекты, Мінск", "Алексей Смирнов, Брест, волонтёр"],
        "cp1250": ["Łucja Żółć, Kraków, wolontariat", "Grzegorz Brzęczyszczykiewicz, Łódź, wspólne projekty",
                   "Žluťoučký kůň úpěl ďábelské ódy, Praha"],
    }
    for encoding, texts in samples.items():
        for text in texts:
            assert detect_encoding(text.encode(encoding)) == encoding
    assert detect_encoding(codecs.BOM_UTF8 + "a;b".encode()) == "utf-8-sig"
    assert detect_encoding("Имя;Телефон\n".encode("utf-16-le")) == "utf-16-le"


def test_delimiter_fallback_and_splitters():
    assert detect_delimiter("a;b;c\n1;2;3\n") == ";"
    assert detect_delimiter("name\tphone\nJan\t600\n") == "\t"
    assert split_phones("+48 600 100 200; 0291234567 / +375 29 111 22 33") == [
        "+48 600 100 200", "0291234567", "+375 29 111 22 33"]
    assert split_phones("+48 600 100 200 lub +48 600 100 201") == ["+48 600 100 200", "+48 600 100 201"]
    try:
        parse_paths("knitting")
    except UnknownPath:
        pass
    else:
        raise AssertionError("an unknown path word must be refused")
