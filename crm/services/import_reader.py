"""Reading real-world sign-up sheets: encodings, delimiters, XLSX, row by row.

Everything streams: a CSV is decoded through a ``TextIOWrapper`` over the
encrypted file's plaintext stream; an XLSX is read by openpyxl in read-only mode
from the same (seekable) stream. Only a sample (``SAMPLE_BYTES``) is held to
detect the encoding and the delimiter.

Encoding, in order: a BOM (UTF-8, UTF-16 LE/BE); NUL bytes in every other
position (UTF-16 without BOM); strict UTF-8; otherwise Windows-1251 or
Windows-1250: read as Windows-1251, Cyrillic words are all non-ASCII letters while
Polish or Czech words come out as ASCII letters mixed with a Cyrillic one here and there.
(charset-normalizer would do the same job with a larger dependency; the four
encodings the sheets really come in are covered here and tested.)
"""
import codecs
import csv
import io
import re
import zipfile
from collections import Counter

SAMPLE_BYTES = 64 * 1024
MAX_COLUMNS = 200
MAX_FIELD_CHARS = 8000
DELIMITERS = ",;\t|"
ZIP_MAGIC = b"PK\x03\x04"


class SheetError(Exception):
    """The file cannot be read as a sheet; the message says why (and holds no content)."""


def detect_kind(sample, filename=""):
    """'xlsx' for a zip container, else 'csv' (a .xlsx name that is no zip is an error)."""
    if sample.startswith(ZIP_MAGIC):
        return "xlsx"
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise SheetError("this .xlsx file is not a valid Excel workbook")
    return "csv"


def _looks_binary(sample):
    controls = sum(1 for b in sample if b < 0x20 and b not in (9, 10, 13))
    return b"\x00" in sample or controls > len(sample) // 100 + 2


def _high_bytes_of_utf16(half):
    """True if ``half`` looks like the high bytes of UTF-16 text: nearly all one or two
    values (0x00 for ASCII, 0x04 for Cyrillic, 0x01 for Latin Extended), some of them 0x00."""
    if not half:
        return False
    counts = Counter(half).most_common(2)
    return half.count(0) > len(half) * 0.05 and sum(n for _, n in counts) > len(half) * 0.9


def _utf16_without_bom(sample):
    if len(sample) < 4:
        return None
    sample = sample[:len(sample) // 2 * 2]
    even, odd = sample[0::2], sample[1::2]
    if _high_bytes_of_utf16(odd) and even.count(0) < len(even) * 0.05:
        return "utf-16-le"
    if _high_bytes_of_utf16(even) and odd.count(0) < len(odd) * 0.05:
        return "utf-16-be"
    return None


def _strict_utf8(sample):
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(sample, final=False)  # a character cut at the sample's end is fine
    except UnicodeDecodeError:
        return False
    return True


_LETTERS = re.compile(r"[^\W\d_]+")


def _cyrillic_or_central(sample):
    """'cp1251' or 'cp1250': read as cp1251, Cyrillic words are all non-ASCII letters,
    while Polish or Czech words come out as ASCII letters mixed with Cyrillic ones."""
    text = sample.decode("cp1251", errors="replace")
    pure = mixed = 0
    for word in _LETTERS.findall(text):
        high = sum(1 for ch in word if ord(ch) > 127)
        if high == len(word):
            pure += 1
        elif high:
            mixed += 1
    return "cp1251" if pure >= mixed else "cp1250"


def detect_encoding(sample):
    """The encoding of a CSV sample (see the module docstring)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16
    if _looks_binary(sample):
        raise SheetError("this is not a text CSV or an Excel file (it looks binary)")
    if _strict_utf8(sample):
        return "utf-8"
    return _cyrillic_or_central(sample)


def detect_delimiter(text_sample):
    """The delimiter of a CSV text sample: csv.Sniffer, then the most regular count per line."""
    try:
        return csv.Sniffer().sniff(text_sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    lines = [line for line in text_sample.splitlines()[:20] if line.strip()]
    best, best_score = ",", -1
    for delimiter in DELIMITERS:
        counts = [line.count(delimiter) for line in lines]
        if not counts or max(counts) == 0:
            continue
        score = sum(1 for c in counts if c == counts[0]) * 10 + min(counts)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _cell(value):
    """An XLSX cell as text (a phone typed as a number loses its '.0')."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class Sheet:
    """A sheet in a binary stream: its format, then its records as lists of strings.

    ``records()`` yields ``(record number, cells)``: the record number counts
    every record of the file from 1 (the header too), so it names the same row
    on every pass; blank records are skipped.
    """

    def __init__(self, stream, kind, encoding=None, delimiter=None):
        self.stream = stream
        self.kind = kind
        self.encoding = encoding
        self.delimiter = delimiter

    @classmethod
    def open(cls, stream, filename="", encoding="auto"):
        """Detect format, encoding and delimiter from the start of ``stream``."""
        stream.seek(0)
        sample = stream.read(SAMPLE_BYTES)
        if not sample.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
            raise SheetError("the file is empty")
        kind = detect_kind(sample, filename)
        if kind == "xlsx":
            return cls(stream, "xlsx")
        if encoding in (None, "", "auto"):
            encoding = detect_encoding(sample)
        else:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise SheetError(f"unknown encoding {encoding!r}") from None
        text = codecs.getincrementaldecoder(encoding)("replace").decode(sample, final=False)
        return cls(stream, "csv", encoding, detect_delimiter(text.lstrip("\ufeff")))

    def records(self):
        self.stream.seek(0)
        source = self._xlsx_records() if self.kind == "xlsx" else self._csv_records()
        for number, cells in enumerate(source, start=1):
            if len(cells) > MAX_COLUMNS:
                raise SheetError(f"the sheet has {len(cells)} columns; at most {MAX_COLUMNS} can be imported")
            if any(c.strip() for c in cells):
                yield number, cells

    def _csv_records(self):
        text = io.TextIOWrapper(_Unclosing(self.stream), encoding=self.encoding, errors="strict", newline="")
        previous = csv.field_size_limit(MAX_FIELD_CHARS)
        try:
            reader = csv.reader(text, delimiter=self.delimiter, strict=True)
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise SheetError(
                        f"the file is not well-formed CSV near record {reader.line_num}: "
                        f"{_csv_reason(exc)}") from None
                except UnicodeDecodeError:
                    raise SheetError(f"the file is not valid {self.encoding} text; "
                                     "choose its encoding by hand") from None
                yield [c.replace("\ufeff", "") for c in row]
        finally:
            csv.field_size_limit(previous)
            text.detach()

    def _xlsx_records(self):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(self.stream, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError):
            raise SheetError("this is not a valid Excel workbook") from None
        try:
            sheet = workbook.worksheets[0]
            for row in sheet.iter_rows(values_only=True):
                cells = [_cell(v) for v in row]
                while cells and cells[-1] == "":
                    cells.pop()
                yield cells
        finally:
            workbook.close()


def _csv_reason(exc):
    message = str(exc)
    if "field larger" in message:
        return "a field is too long (an opening quote is probably never closed)"
    if "unexpected end of data" in message or "EOF" in message:
        return "a quoted field is never closed"
    return "a quote appears inside an unquoted field"


class _Unclosing(io.RawIOBase):
    """Lets TextIOWrapper read a stream without closing it afterwards."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw

    def readable(self):
        return True

    def readinto(self, buffer):
        return self._raw.readinto(buffer)


# -- columns and paths ----------------------------------------------------------------

FIELDS = ("full_name", "first_name", "last_name", "email", "phone", "messenger", "city", "country",
          "notes", "skills", "languages", "paths")

HEADER_WORDS = {
    "full_name": ["name", "full name", "fullname", "imię i nazwisko", "imie i nazwisko", "имя и фамилия",
                  "фио", "ф.и.о.", "імя і прозвішча", "імя прозвішча", "имя фамилия", "osoba", "person"],
    "first_name": ["first name", "given name", "firstname", "imię", "imie", "имя", "імя"],
    "last_name": ["last name", "surname", "family name", "lastname", "nazwisko", "фамилия", "прозвішча"],
    "email": ["email", "e-mail", "e mail", "mail", "adres e-mail", "adres email", "почта", "эл почта",
              "электронная почта", "электронная пошта", "пошта", "емейл", "імэйл"],
    "phone": ["phone", "telephone", "tel", "mobile", "phone number", "telefon", "nr telefonu", "numer telefonu",
              "komórka", "телефон", "тэлефон", "номер телефона", "нумар тэлефона", "мабільны", "phones"],
    "messenger": ["telegram", "signal", "messenger", "handle", "телеграм", "тэлеграм", "komunikator"],
    "city": ["city", "town", "miasto", "miejscowość", "город", "горад"],
    "country": ["country", "kraj", "państwo", "страна", "краіна"],
    "notes": ["notes", "note", "comment", "comments", "uwagi", "komentarz", "заметки", "комментарий",
              "примечание", "заўвагі", "заўвага", "каментар"],
    "skills": ["skills", "umiejętności", "навыки", "навыкі", "уменні"],
    "languages": ["languages", "języki", "языки", "мовы"],
    "paths": ["path", "paths", "interest", "interests", "interested in", "cooperation", "how can you help",
              "ścieżka", "współpraca", "zainteresowania", "направление", "сотрудничество", "кірунак",
              "супрацоўніцтва", "чым можаце дапамагчы", "чем можете помочь", "jak możesz pomóc"],
}
_HEADER_LOOKUP = {word: name for name, words in HEADER_WORDS.items() for word in words}


def _header_key(text):
    return " ".join(re.sub(r"[^\w@.-]+", " ", text.casefold()).replace("_", " ").split()).strip(" .")


def guess_mapping(header):
    """{column index: field} from header cells in English, Belarusian, Russian or Polish."""
    mapping, taken = {}, set()
    for index, cell in enumerate(header):
        key = _header_key(cell)
        field = _HEADER_LOOKUP.get(key)
        if field is None:
            field = next((name for word, name in _HEADER_LOOKUP.items()
                          if len(word) >= 5 and word in key), None)
        if field and field not in taken:
            mapping[index] = field
            taken.add(field)
    return mapping


# Path words, matched by stem on folded words, in en / be / ru / uk / pl.
PATH_STEMS = {
    "volunteering": ("volunt", "wolont", "волонт", "валанц", "валант"),
    "joint_projects": ("project", "projekt", "проект", "праект", "joint", "wspóln", "wspoln", "совместн",
                       "сумесн", "partner"),
    "reserve_training": ("reserve", "training", "military", "rezerw", "szkolen", "wojsk", "резерв", "рэзерв",
                         "военн", "вайсков", "падрыхт", "подготов", "навучан"),
    "combat_service": ("combat", "fight", "front", "walk", "bojow", "бое", "бой", "баяв", "фронт"),
}
_PATH_SPLIT = re.compile(r"[,;/+|\n]+|\s+(?:and|i|и|і|oraz|та)\s+", re.IGNORECASE)


class UnknownPath(ValueError):
    """A path word we cannot place."""


def parse_paths(cell):
    """Path keys named in a cell ("volunteer, projects", "валанцёрства", "wolontariat")."""
    found = []
    for piece in _PATH_SPLIT.split(cell or ""):
        word = piece.strip().casefold()
        if not word:
            continue
        key = word.replace(" ", "_")
        if key in PATH_STEMS:
            found.append(key)
            continue
        match = next((path for path, stems in PATH_STEMS.items() if any(s in word for s in stems)), None)
        if match is None:
            raise UnknownPath(word)
        found.append(match)
    return tuple(dict.fromkeys(found))


_PHONE_SPLIT = re.compile(r"[,;/|\n]+|\s{2,}|\s+(?:or|lub|или|або)\s+", re.IGNORECASE)


def split_phones(cell):
    """Several phones in one cell ("+48 600 100 200, 0291234567")."""
    return [p.strip() for p in _PHONE_SPLIT.split(cell or "") if p.strip()]
