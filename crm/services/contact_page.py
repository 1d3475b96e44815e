"""Everything the contact page shows, gathered once, with one audit event per view.

Decrypting a person's details is what the audit log exists for: building this
view records ``contact.view`` exactly once, whatever the page then reads.
Path choices, follow-ups and audit rows are filtered with the viewer's
permissions, so restricted paths leave no trace without clearance.
"""
from dataclasses import dataclass

import phonenumbers

from sqlalchemy import select

from ..extensions import db
from ..models import Attendance, AuditEvent, FollowUp, Meeting, User
from ..models.enums import RESTRICTED_PATHS
from ..security import audit, permissions
from .contact_edit import EDITABLE

AUDIT_ROWS = 50


@dataclass
class PathView:
    choice: object
    history: list  # (StageChange, actor login or None), oldest first


@dataclass
class ContactView:
    contact: object
    fields: dict
    paths: list
    meetings: list
    followups: list
    audit_trail: list | None  # None when the viewer may not read the audit log


def _logins(ids):
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.login).where(User.id.in_(ids))).all())


def readable_phone(value):
    """``+48 600 100 201`` rather than ``+48600100201`` (anything unparseable as it is)."""
    if not isinstance(value, str):
        return value
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _mentions_restricted(details):
    details = details or {}
    named = {details.get("path")} | set(details.get("paths") or ())
    return bool(named & RESTRICTED_PATHS)


def build(contact, user):
    """The view of a contact ``user`` may see (the caller loaded it with load_visible)."""
    fields = {name: getattr(contact, name) for name in EDITABLE}
    fields["phone"] = readable_phone(fields["phone"])
    choices = permissions.visible_paths(user, contact)
    logins = _logins(change.actor_id for choice in choices for change in choice.history)
    paths = [PathView(choice, [(change, logins.get(change.actor_id)) for change in choice.history])
             for choice in choices]
    meetings = list(db.session.scalars(
        select(Meeting).join(Attendance, Attendance.meeting_id == Meeting.id)
        .where(Attendance.contact_id == contact.id).order_by(Meeting.starts_at.desc())
    ))
    followups = list(db.session.scalars(permissions.visible_followups(
        select(FollowUp).where(FollowUp.contact_id == contact.id).order_by(FollowUp.due_at), user)))
    trail = None
    if permissions.can(user, "audit.view"):
        trail = list(db.session.scalars(
            select(AuditEvent).where(AuditEvent.target_type == "contact",
                                     AuditEvent.target_id == str(contact.id))
            .order_by(AuditEvent.id.desc()).limit(AUDIT_ROWS)))
        if not permissions.has_clearance(user):
            trail = [e for e in trail if not _mentions_restricted(e.details)]
        actor_logins = _logins(e.actor_id for e in trail)
        trail = [(event, actor_logins.get(event.actor_id)) for event in trail]
    audit.record("contact.view", "contact", contact.id)
    return ContactView(contact, fields, paths, meetings, followups, trail)
