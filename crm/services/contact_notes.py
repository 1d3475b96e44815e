"""Notes about a contact, added over time: each one encrypted, dated and signed by its author.

A note is never edited (a correction is a new note), so the page reads as a
history; each addition leaves an audit event without the note's text.
"""
import unicodedata

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..errors import ServiceError
from ..extensions import db
from ..models import ContactNote, Meeting, User
from ..security import audit, permissions
from .contacts import ValidationError

NOTE_MAX = 4000


def check_body(body):
    """The note's text, trimmed; ValidationError({"body": …}) when it cannot be stored."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": _l("is empty")})
    if len(body) > NOTE_MAX:
        raise ValidationError({"body": _l("is too long (at most %(num)d characters)", num=NOTE_MAX)})
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in "\n\r\t" for ch in body):
        raise ValidationError({"body": _l("contains control or invisible formatting characters")})
    return body


def add_note(contact, body, user, meeting=None):
    """Add a note to ``contact`` (which ``user`` may edit); returns it, flushed."""
    if not permissions.can(user, "contacts.edit", contact):
        raise ServiceError(_l("you may not add notes to this contact"))
    note = ContactNote(contact_id=contact.id, author_id=user.id,
                       meeting_id=meeting.id if meeting is not None else None)
    note.body = check_body(body)
    db.session.add(note)
    db.session.flush()
    audit.record("contact.note", "contact", contact.id, note=str(note.id),
                 meeting=str(meeting.id) if meeting is not None else None)
    return note


def notes_of(contact):
    """(note, author login, meeting) of a contact, newest first."""
    rows = db.session.execute(
        select(ContactNote, User.login, Meeting)
        .outerjoin(User, User.id == ContactNote.author_id)
        .outerjoin(Meeting, Meeting.id == ContactNote.meeting_id)
        .where(ContactNote.contact_id == contact.id)
        .order_by(ContactNote.created_at.desc(), ContactNote.id)
    )
    return [tuple(row) for row in rows]
