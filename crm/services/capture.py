"""Quick capture at a meeting: one person in, or attached to someone already known.

A phone typed at a meeting is read in the meeting's country (``0600…`` in
Poland, ``8029…`` in Belarus) and stored in E.164, so the blind index and the
duplicate check see the same number whatever the format. Before creating a
contact the service looks for people already known by email, phone or every
name word; when it finds some it saves nothing and returns them, and the
coordinator either attaches this meeting to one of them or confirms a new
contact. Candidates the coordinator may not see are never shown.
"""
import unicodedata
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..errors import ServiceError
from ..extensions import db
from ..models import Attendance, Contact
from ..models.base import utcnow
from ..models.enums import PATHS, RESTRICTED_PATHS
from ..security import audit, normalize, permissions
from . import contact_notes, signals, trust
from . import contacts as contact_service
from .contacts import ContactData, ValidationError

NOTE_MAX = 1000
REACH_FIELDS = ("phone", "email", "messenger")


@dataclass(frozen=True)
class CaptureData:
    """What the quick-capture form hands over."""

    full_name: str
    phone: str | None = None
    email: str | None = None
    messenger: str | None = None
    city: str | None = None
    paths: tuple = field(default_factory=tuple)
    note: str | None = None
    consent: bool = False


@dataclass
class CaptureResult:
    """``contact`` is set when something was saved; otherwise ``candidates`` says why not."""

    contact: Contact | None = None
    candidates: list = field(default_factory=list)
    attached: bool = False


def allowed_paths(user):
    """The path keys ``user`` may choose (restricted ones need clearance)."""
    cleared = permissions.has_clearance(user)
    return [p for p in PATHS if cleared or p not in RESTRICTED_PATHS]


def _clean(value):
    return (value or "").strip() or None


def _check(meeting, data, user):
    """Validate; return (ContactData for the contact service, note) or raise ValidationError."""
    phone = _clean(data.phone)
    e164 = normalize.normalize_phone(phone, meeting.country) if phone else None
    note = _clean(data.note)
    contact_data = ContactData(
        full_name=_clean(data.full_name) or "", email=_clean(data.email),
        phone=e164 or phone, messenger=_clean(data.messenger), city=_clean(data.city),
        source="meeting", paths=tuple(dict.fromkeys(data.paths)),
    )
    errors = contact_service.validate(contact_data, meeting.country)
    allowed = allowed_paths(user)
    hidden = [p for p in contact_data.paths if p not in allowed]
    if hidden and "paths" not in errors:
        errors["paths"] = f"unknown path {hidden[0]!r} (choose from {', '.join(allowed)})"
    if not any(getattr(contact_data, f) for f in REACH_FIELDS) and not errors.keys() & set(REACH_FIELDS):
        errors["phone"] = _l("give a phone, an email or a messenger handle")
    if note and len(note) > NOTE_MAX:
        errors["note"] = _l("is too long (at most %(num)d characters)", num=NOTE_MAX)
    elif note and any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in "\n\r\t"
                      for ch in note):
        errors["note"] = _l("contains control or invisible formatting characters")
    if errors:
        raise ValidationError(errors)
    return contact_data, note


def visible_candidates(contact_data, user):
    """Known contacts ``user`` may see that could be this person."""
    found = contact_service.find_candidates(contact_data.email, contact_data.phone, contact_data.full_name)
    return [c for c in found if permissions.visible(user, c.contact)]


def capture(meeting, data, user, consent_version, attach_to=None, create_anyway=False):
    """Record one person met at ``meeting``.

    ``attach_to`` (a contact id) adds the attendance, new paths, blank fields and
    the note to that existing contact instead of creating one. Without it, known
    candidates stop the capture unless ``create_anyway`` is set.
    """
    if not permissions.can(user, "contacts.create"):
        raise ServiceError("you may not add contacts")
    contact_data, note = _check(meeting, data, user)
    consent = consent_version if data.consent else None
    if attach_to is not None:
        contact = permissions.load_visible(db.session, Contact, attach_to, user)
        _attach(meeting, contact, contact_data, note, consent, user)
        signals.enqueue_scan(contact.id)
        return CaptureResult(contact, attached=True)
    if not create_anyway:
        candidates = visible_candidates(contact_data, user)
        if candidates:
            audit.record("capture.candidates_view", "meeting", meeting.id,
                         contacts=[str(c.contact.id) for c in candidates])
            return CaptureResult(candidates=candidates)
    contact_data = ContactData(**{**contact_data.__dict__, "consent_version": consent})
    created = contact_service.create_contact(contact_data, actor_id=user.id, check_duplicates=False)
    if note:
        contact_notes.add_note(created.contact, note, user, meeting=meeting)
    _add_attendance(meeting, created.contact, user, attached=False)
    signals.enqueue_scan(created.contact.id)
    return CaptureResult(created.contact)


def _attach(meeting, contact, contact_data, note, consent, user):
    filled = []
    for name in (*REACH_FIELDS, "city"):
        value = getattr(contact_data, name)
        if value and not getattr(contact, name):
            setattr(contact, name, value)
            filled.append(name)
    if note:
        contact_notes.add_note(contact, note, user, meeting=meeting)
    if consent and contact.consent_version != consent:
        contact.consent_version, contact.consent_at = consent, utcnow()
        filled.append("consent")
    if filled:
        contact.updated_at = utcnow()
    db.session.flush()
    for path in contact_data.paths:
        if contact.path(path) is None:
            contact_service.move_stage(contact.id, path, "interested", actor_id=user.id)
    _add_attendance(meeting, contact, user, attached=True, filled=filled)


def _add_attendance(meeting, contact, user, attached, filled=()):
    exists = db.session.scalar(select(Attendance.id).where(
        Attendance.meeting_id == meeting.id, Attendance.contact_id == contact.id))
    if exists is None:
        db.session.add(Attendance(meeting_id=meeting.id, contact_id=contact.id, recorded_by_id=user.id))
        db.session.flush()
    trust.mark_met([contact.id])  # seen in person: an unverified contact is now met
    audit.record("attendance.create", "contact", contact.id, meeting=str(meeting.id),
                 attached=attached, already_recorded=exists is not None, fields=sorted(filled))
