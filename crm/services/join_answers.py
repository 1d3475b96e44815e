"""Moving the availability of earlier self-registrations out of their notes into its own field.

Before migration 0024 the join form's availability had no field: the completion job
wrote it into the contact's notes as ``Availability: ...``, followed by
``\n\nMessage: ...`` when the person also wrote a message. Notes are encrypted, so
the migration cannot move it in SQL; ``flask crm join move-availability`` calls
``move_availability_from_notes`` after the upgrade. A note that does not start the
way the join wrote it (staff rewrote it) is left alone, and so are the notes of a
second registration (``Self-registration again.``): they are a record of what was
said then.
"""
from sqlalchemy import select

from ..extensions import db
from ..models import Contact
from ..models.base import utcnow
from ..security import audit
from .contacts import MAX_LENGTHS

PREFIX = "Availability: "
MESSAGE = "\n\nMessage: "
CHUNK = 500


def split_note(notes):
    """``(availability, remaining notes)`` of a note the join wrote; ``(None, notes)`` otherwise."""
    if not isinstance(notes, str) or not notes.startswith(PREFIX):
        return None, notes
    availability, found, rest = notes[len(PREFIX):].partition(MESSAGE)
    availability = availability.strip()
    if not availability or len(availability) > MAX_LENGTHS["availability"] or "\n" in availability:
        return None, notes
    return availability, ("Message: " + rest if found else None)


def move_availability_from_notes():
    """Move it for every self-registered contact without an availability; return how many moved.

    Idempotent (a contact with an availability is skipped). One audit event with
    the count; flushes only, the caller commits.
    """
    ids = list(db.session.scalars(
        select(Contact.id).where(Contact.source == "self", Contact.availability_ct.is_(None),
                                 Contact.notes_ct.is_not(None))))
    moved = 0
    for start in range(0, len(ids), CHUNK):
        for contact in db.session.scalars(select(Contact).where(Contact.id.in_(ids[start:start + CHUNK]))):
            availability, rest = split_note(contact.notes)
            if availability is None:
                continue
            contact.availability = availability
            contact.notes = rest
            contact.updated_at = utcnow()
            moved += 1
        db.session.flush()
    audit.record("contact.availability_moved", "contact", None, count=moved, checked=len(ids))
    return moved
