"""The rows and bytes of an export: chosen columns only, formula-like cells neutralised.

Rows come from the triage queue's filters narrowed by the requester's
permissions (``triage.queue_statement``), so restricted people and paths are
absent without clearance exactly as on screen. Contacts are read in batches
and written straight into the encrypted file store, CSV and XLSX alike, a row
at a time (``xlsx_stream``: no plaintext temporary file, memory flat in the rows).
"""
import csv
import io
import itertools
import random

from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..contacts import labels
from ..extensions import db
from ..models import Attendance, Contact, Meeting
from ..security import permissions
from ..security.fields import UNREADABLE
from . import xlsx_stream
from .contact_page import readable_phone

BATCH = 500
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Column key -> label key in crm.contacts.labels (fields) or a label of its own.
COLUMNS = ("full_name", "email", "phone", "messenger", "city", "country", "languages", "skills", "notes",
           "paths", "status", "source", "created", "meetings")
ENCRYPTED_COLUMNS = ("full_name", "email", "phone", "messenger", "city", "country", "languages", "skills", "notes")


def neutralise(value):
    """A cell value no spreadsheet will run: text starting like a formula gets a leading quote."""
    if value is None:
        return ""
    text = str(value)
    stripped = text.lstrip(" ")
    if text.startswith(FORMULA_START) or stripped.startswith(FORMULA_START):
        return "'" + text
    return text


def column_label(key):
    """The header of a column (English: files travel beyond the app's language choice)."""
    with force_locale("en"):
        if key in labels.FIELDS:
            return str(labels.FIELDS[key])
        return {"paths": "Paths", "status": "Status", "source": "Source", "created": "Recorded",
                "meetings": "Meetings attended"}[key]


def _meetings_by_contact(ids):
    found = {}
    rows = db.session.execute(
        select(Attendance.contact_id, Meeting.city, Meeting.starts_at)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(Attendance.contact_id.in_(ids)).order_by(Meeting.starts_at))
    for contact_id, city, starts_at in rows:
        found.setdefault(contact_id, []).append(f"{starts_at:%Y-%m-%d} {city}" if starts_at else city)
    return found


def _cell(contact, key, user, meetings):
    if key in ENCRYPTED_COLUMNS:
        value = getattr(contact, key)
        if value is UNREADABLE:
            return "[unreadable]"
        return readable_phone(value) if key == "phone" else value
    if key == "paths":
        return "; ".join(f"{choice.path}: {choice.stage}" for choice in permissions.visible_paths(user, contact))
    if key == "status":
        return contact.status
    if key == "source":
        return contact.source
    if key == "created":
        return f"{contact.created_at:%Y-%m-%d}" if contact.created_at else ""
    if key == "meetings":
        return "; ".join(meetings.get(contact.id, []))
    raise ValueError(f"unknown column {key!r}")


def contact_rows(statement, columns, user, limit):
    """Yield one list of cell values per contact of ``statement`` (ids), at most ``limit``."""
    ids = list(db.session.scalars(statement.order_by(Contact.created_at, Contact.id).limit(limit)))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        contacts = {c.id: c for c in db.session.scalars(
            select(Contact).where(Contact.id.in_(chunk)).options(selectinload(Contact.paths)))}
        meetings = _meetings_by_contact(chunk) if "meetings" in columns else {}
        for contact_id in chunk:
            contact = contacts.get(contact_id)
            if contact is not None:
                yield [_cell(contact, key, user, meetings) for key in columns]
        for contact in contacts.values():
            db.session.expunge(contact)  # keep memory flat: decrypted values go with their objects


def canary_cells(canary, columns):
    """The canary person's row, in the export's columns."""
    return [canary.get(key, "") for key in columns]


def with_canary(rows, canary_row, position):
    """``rows`` with ``canary_row`` slipped in before row ``position`` (or at the end)."""
    written = 0
    for row in rows:
        if written == position:
            yield canary_row
        yield row
        written += 1
    if position >= written:
        yield canary_row


def canary_position(expected_rows, rng=None):
    """Somewhere in the middle of the file, never first or last when there is a middle."""
    rng = rng or random.SystemRandom()
    if expected_rows < 2:
        return expected_rows
    return rng.randrange(1, expected_rows)


class _Utf8Sink(io.TextIOBase):
    """A text stream that encodes to UTF-8 into the file store's sink."""

    def __init__(self, sink):
        self.sink = sink

    def write(self, text):
        self.sink.write(text.encode("utf-8"))
        return len(text)


def write_csv(sink, header, rows):
    """CSV with a BOM (Excel reads UTF-8 then), every cell neutralised; returns rows written."""
    sink.write(b"\xef\xbb\xbf")
    writer = csv.writer(_Utf8Sink(sink), lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    count = 0
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
        count += 1
    return count


def write_xlsx(sink, header, rows):
    """XLSX with every cell a neutralised text string (never a formula); returns rows written.

    Streamed into ``sink`` a row at a time (``xlsx_stream``): memory stays flat and no
    plaintext worksheet is spilled to a temporary file, as openpyxl's modes would.
    """
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def clean(values):
        return [ILLEGAL_CHARACTERS_RE.sub("", neutralise(value)) for value in values]

    return xlsx_stream.write(sink, "Contacts", itertools.chain([clean(header)], map(clean, rows))) - 1
