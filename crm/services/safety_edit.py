"""Editing a contact's safety fields and recording vouches from the contact page.

The safety form carries the contact's ``version_id`` and a fingerprint of each safety
field as shown (the same scheme as ``contact_edit``): when someone else changed one of
them in between, nothing is saved and ``EditConflict`` names the fields. The writing
itself is ``crm.services.trust.update_safety`` (validated, audited with field names only).
"""
from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import Contact, User
from ..security import audit, permissions
from . import search, trust
from .contact_edit import EditConflict, Snapshot, fingerprint

SAFETY_FIELDS = ("safe_channel", "do_not_email", "do_not_text", "do_not_call", "safe_times", "relatives_at_risk")
MEMBERS_SHOWN = 20


def _values(contact):
    return {name: getattr(contact, name) for name in SAFETY_FIELDS}


def _shown(value):
    # Booleans and None fingerprint as the form shows them: a ticked box, an empty field.
    if isinstance(value, bool):
        return "1" if value else ""
    return value


def snapshot(contact):
    return Snapshot(contact.version_id,
                    {name: fingerprint(contact, name, _shown(v)) for name, v in _values(contact).items()})


def changed_since(contact, seen):
    """Safety fields whose stored value differs from what ``seen`` recorded (names)."""
    return sorted(name for name, value in _values(contact).items()
                  if seen.fingerprints.get(name) != fingerprint(contact, name, _shown(value)))


def save(contact, data, seen, user):
    """Write ``data`` (a ``trust.SafetyData``) unless someone changed these fields since
    ``seen``; returns the changed names. Raises ``EditConflict``, ``ValidationError``
    or ``TrustRefused``."""
    if contact.version_id != seen.version_id:
        theirs = changed_since(contact, seen)
        if theirs:
            raise EditConflict({name: getattr(contact, name) for name in theirs}, contact.version_id)
    return trust.update_safety(contact, data, user)


@dataclass
class TrustView:
    level: str
    by_login: str | None  # the account that recorded the vouch
    by_member: object | None  # the vouching member (a Contact the viewer may see), if any
    member_hidden: bool  # a member vouched, but the viewer may not see who
    at: object


def trust_view(contact, user):
    """The contact's trust level and who vouched, as ``user`` may see it."""
    login = db.session.scalar(select(User.login).where(User.id == contact.vouched_by_user_id)) \
        if contact.vouched_by_user_id else None
    member = db.session.get(Contact, contact.vouched_by_contact_id) if contact.vouched_by_contact_id else None
    visible = member is not None and permissions.visible(user, member)
    return TrustView(contact.trust_level, login, member if visible else None,
                     member is not None and not visible, contact.vouched_at)


def may_vouch(contact, user):
    """(in own name, on a member's behalf): which vouch forms ``user`` gets for ``contact``."""
    if trust.TRUST_RANK[contact.trust_level] >= trust.TRUST_RANK["vouched"]:
        return False, False
    allowed = permissions.can(user, "contacts.assign", contact)
    return allowed and permissions.has_clearance(user), allowed


def find_members(query, contact, user):
    """Active vetted members matching ``query`` that ``user`` may see (not ``contact``);
    the search is audited like the search page (ids of the people shown)."""
    found = search.search(query, visible_to=user, name_limit=200)
    members = [c for c in found.contacts if c.id != contact.id and permissions.visible(user, c)
               and trust.is_active_vetted_member(c)][:MEMBERS_SHOWN]
    audit.record("contact.search", None, None, kind=found.kind, results=len(members), purpose="vouch",
                 contacts=[str(c.id) for c in members])
    return members
