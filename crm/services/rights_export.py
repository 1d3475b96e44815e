"""Everything held about one person, for their own download (GDPR art. 15 and 20).

What goes in and what stays out is decided in docs/decisions/0013-data-rights.md:
every field of the contact (new encrypted fields are picked up by themselves),
path choices with their stage history, meetings attended (city, country, date;
never the other people there), staff notes and follow-up outcomes (personal data
about them, so included; the author is "a staff member", never a name), consent,
and when their record was read or changed (dates and
kinds of action, not which staff member: CJEU C-579/21). Nothing about anyone else.
"""
from sqlalchemy import select

from ..extensions import db
from ..models import (
    Attendance,
    AuditEvent,
    Contact,
    ContactNote,
    ContactTriage,
    FollowUp,
    Meeting,
    PathChoice,
)
from ..security.fields import UNREADABLE, encrypted_fields

FORMAT_VERSION = 1
# Internal bookkeeping or staff identities: not data about the person.
_INTERNAL_COLUMNS = frozenset({"version_id", "assignee_id", "clearance_only",
                               "vouched_by_user_id", "vouched_by_contact_id"})


def _text(value):
    if value is UNREADABLE:
        return "[unreadable]"
    return value


def _when(at):
    return at.isoformat() if at is not None else None


def contact_fields(contact):
    """Every field of the contact: decrypted values and plain metadata."""
    fields = {name: _text(getattr(contact, name)) for name in sorted(encrypted_fields(Contact))}
    for column in Contact.__table__.columns:
        name = column.key
        if name.endswith("_ct") or name in _INTERNAL_COLUMNS or name in fields:
            continue
        value = getattr(contact, name)
        fields[name] = _when(value) if hasattr(value, "isoformat") else (
            str(value) if name == "id" else value)
    fields["has_assigned_coordinator"] = contact.assignee_id is not None
    return fields


def _paths(contact_id):
    choices = db.session.scalars(
        select(PathChoice).where(PathChoice.contact_id == contact_id).order_by(PathChoice.path))
    return [{
        "path": choice.path, "stage": choice.stage,
        "since": _when(choice.created_at), "updated": _when(choice.updated_at),
        "history": [{"from": change.from_stage, "to": change.to_stage, "at": _when(change.at),
                     "automatic": bool(change.by_rule)} for change in choice.history],
    } for choice in choices]


def _meetings(contact_id):
    rows = db.session.execute(
        select(Meeting.city, Meeting.country, Meeting.starts_at)
        .join(Attendance, Attendance.meeting_id == Meeting.id)
        .where(Attendance.contact_id == contact_id).order_by(Meeting.starts_at))
    return [{"city": city, "country": country, "date": _when(starts_at)} for city, country, starts_at in rows]


def _notes(contact_id):
    notes = db.session.scalars(
        select(ContactNote).where(ContactNote.contact_id == contact_id).order_by(ContactNote.created_at))
    return [{"written": _when(note.created_at), "author": "staff", "text": _text(note.body)} for note in notes]


def _followups(contact_id):
    followups = db.session.scalars(
        select(FollowUp).where(FollowUp.contact_id == contact_id).order_by(FollowUp.created_at))
    return [{"kind": f.kind, "path": f.path, "status": f.status, "created": _when(f.created_at),
             "due": _when(f.due_at), "completed": _when(f.completed_at), "outcome": _text(f.outcome)}
            for f in followups]


def _triage(contact_id):
    row = db.session.get(ContactTriage, contact_id)
    if row is None:
        return None
    return {"not_a_fit_reason": row.not_a_fit_reason, "on_hold_until": _when(row.snoozed_until)}


def _history(contact_id):
    events = db.session.execute(
        select(AuditEvent.at, AuditEvent.action)
        .where(AuditEvent.target_type == "contact", AuditEvent.target_id == str(contact_id))
        .order_by(AuditEvent.id))
    return [{"at": _when(at), "action": action} for at, action in events]


def _consent(contact):
    return {"given_at": _when(contact.consent_at), "notice_version": contact.consent_version}


def build_export(contact):
    """The whole export as plain data (JSON-ready); the caller audits the view."""
    return {
        "format_version": FORMAT_VERSION,
        "contact": contact_fields(contact),
        "consent": _consent(contact),
        "paths": _paths(contact.id),
        "meetings_attended": _meetings(contact.id),
        "notes": _notes(contact.id),
        "follow_ups": _followups(contact.id),
        "triage": _triage(contact.id),
        "record_history": _history(contact.id),
    }
