"""Trust levels and safety fields of a contact (docs/decisions/0020-trust-and-safety.md).

Trust: ``unverified`` (self-registered or imported without a meeting: quarantined,
only coordinators and admins see it) -> ``met`` (seen at a meeting: capture or an
attendance) -> ``vouched`` (a cleared coordinator vouches, or records the vouch of
an active vetted member on their behalf) -> ``vetted`` (passed screening: only
through an approved two-person request, ``set_vetted``, see crm/services/vetting.py).
Trust only rises here; each change is audited with who caused it.

Safety: preferred safe channel, do not email/text/call, safe times to reach
(encrypted) and relatives at risk at home (makes the record clearance-only, see
``crm.security.permissions.contact_clause``). ``crm.services.mail.queue_mail``
refuses mail to a do-not-email address.

Services flush; the caller commits (also after a refusal, so that its audit event stays).
"""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..errors import ServiceError
from ..extensions import db
from ..models import Contact
from ..models.base import utcnow
from ..models.enums import SAFE_CHANNELS, TRUST_LEVELS
from ..security import audit, permissions
from . import lookup

TRUST_RANK = {level: rank for rank, level in enumerate(TRUST_LEVELS)}
SAFE_TIMES_MAX = 500


class TrustRefused(ServiceError):
    """A vouch or trust change that the rules refuse (the refusal is audited)."""


def mark_met(contact_ids):
    """Raise unverified contacts among ``contact_ids`` to ``met`` (an attendance was recorded)."""
    ids = list(dict.fromkeys(contact_ids))
    if not ids:
        return 0
    from .signals import confirmed_ids_clause

    # A person confirmed hostile (or blocked) stays quarantined, met or not (decision 0022).
    raised = list(db.session.scalars(select(Contact.id).where(
        Contact.id.in_(ids), Contact.trust_level == "unverified", Contact.id.not_in(confirmed_ids_clause()))))
    if not raised:
        return 0
    db.session.execute(update(Contact).where(Contact.id.in_(raised), Contact.trust_level == "unverified")
                       .values(trust_level="met", version_id=Contact.version_id + 1)
                       .execution_options(synchronize_session=False))
    for contact_id in raised:
        loaded = db.session.identity_map.get(db.session.identity_key(Contact, contact_id))
        if loaded is not None:
            db.session.expire(loaded, ["trust_level", "version_id"])
        audit.record("trust.change", "contact", contact_id, from_level="unverified", to_level="met",
                     reason="attendance")
    db.session.flush()
    return len(raised)


def _refuse(contact, user, why, message):
    audit.record("trust.vouch_refused", "contact", contact.id, reason=why)
    db.session.flush()
    raise TrustRefused(message)


def is_active_vetted_member(contact):
    """A vetted contact with at least one path at stage ``active``."""
    return contact.trust_level == "vetted" and any(p.stage == "active" for p in contact.paths)


def vouch(contact, user, on_behalf_of=None):
    """Record a vouch for ``contact``: by ``user`` (a cleared coordinator or admin) or,
    with ``on_behalf_of`` (a Contact), by that active vetted member, recorded by ``user``.

    Raises ``TrustRefused`` (audited) for a vouch for oneself, by someone not allowed,
    or for a contact ``user`` may not see. A contact already vouched or vetted is a
    clean no-op (audited); returns True when the level changed.
    """
    if not permissions.can(user, "contacts.assign", contact):
        _refuse(contact, user, "not_allowed", _l("You may not vouch for this contact."))
    if on_behalf_of is None:
        if not permissions.has_clearance(user):
            _refuse(contact, user, "no_clearance",
                    _l("Only a coordinator with clearance can vouch for a contact."))
        if user.email and any(c.id == contact.id for c in lookup.find_by_email(user.email)):
            _refuse(contact, user, "self", _l("You cannot vouch for yourself."))
    else:
        if on_behalf_of.id == contact.id:
            _refuse(contact, user, "self", _l("A member cannot vouch for themselves."))
        if not is_active_vetted_member(on_behalf_of):
            _refuse(contact, user, "voucher_not_vetted",
                    _l("Only an active, vetted member can vouch for someone."))
    before = contact.trust_level
    if TRUST_RANK[before] >= TRUST_RANK["vouched"]:
        audit.record("trust.vouch_noop", "contact", contact.id, level=before)
        db.session.flush()
        return False
    contact.trust_level = "vouched"
    contact.vouched_by_user_id = user.id
    contact.vouched_by_contact_id = on_behalf_of.id if on_behalf_of is not None else None
    contact.vouched_at = utcnow()
    contact.updated_at = utcnow()
    db.session.flush()
    audit.record("trust.change", "contact", contact.id, from_level=before, to_level="vouched",
                 reason="vouch", by_member=str(on_behalf_of.id) if on_behalf_of is not None else None)
    return True


@dataclass(frozen=True)
class SafetyData:
    safe_channel: str | None = None
    do_not_email: bool = False
    do_not_text: bool = False
    do_not_call: bool = False
    safe_times: str | None = None
    relatives_at_risk: bool = False


def validate_safety(data):
    errors = {}
    if data.safe_channel not in (None, "", *SAFE_CHANNELS):
        errors["safe_channel"] = _l("Choose one of the listed channels.")
    if data.safe_times is not None:
        if not isinstance(data.safe_times, str):
            errors["safe_times"] = _l("must be text")
        elif len(data.safe_times) > SAFE_TIMES_MAX:
            errors["safe_times"] = _l("is too long (at most %(num)d characters)", num=SAFE_TIMES_MAX)
        elif not data.safe_times.replace("\n", "").isprintable():
            errors["safe_times"] = _l("contains control or invisible formatting characters")
    for flag in ("do_not_email", "do_not_text", "do_not_call", "relatives_at_risk"):
        if not isinstance(getattr(data, flag), bool):
            errors[flag] = _l("must be yes or no")
    return errors


def update_safety(contact, data, user):
    """Write the safety fields of ``contact``; return the names that changed (audited, no values
    of the free text). Raises ``contacts.ValidationError`` for bad input (nothing written)."""
    from .contacts import ValidationError

    if not permissions.can(user, "contacts.edit", contact):
        raise TrustRefused(_l("You may not edit this contact."))
    errors = validate_safety(data)
    if errors:
        raise ValidationError(errors)
    wanted = {
        "safe_channel": data.safe_channel or None,
        "do_not_email": data.do_not_email, "do_not_text": data.do_not_text,
        "do_not_call": data.do_not_call, "relatives_at_risk": data.relatives_at_risk,
        "safe_times": (data.safe_times or "").strip() or None,
    }
    changed = sorted(name for name, value in wanted.items() if getattr(contact, name) != value)
    for name in changed:
        setattr(contact, name, wanted[name])
    if changed:
        contact.updated_at = utcnow()
        db.session.flush()
        if "relatives_at_risk" in changed:
            from .contacts import update_clearance

            update_clearance(contact)  # clearance-only now (or no longer); hands back if it became so
        audit.record("contact.safety", "contact", contact.id, fields=changed,
                     do_not_email=data.do_not_email, relatives_at_risk=data.relatives_at_risk)
    return changed


def set_vetted(contact, decider, approval):
    """Raise ``contact`` to ``vetted``: only as the apply step of an approved two-person
    request (``crm/services/vetting.py``), by ``decider``. Audited ``trust.change``."""
    if approval is None or approval.kind != "vetting" or approval.status != "approved" \
            or approval.contact_id != contact.id:
        raise TrustRefused(_l("Vetting needs two people: a cleared coordinator requests it with a "
                              "reason and another one approves it."))
    before = contact.trust_level
    if before == "vetted":
        return False
    contact.trust_level = "vetted"
    contact.updated_at = utcnow()
    db.session.flush()
    audit.record("trust.change", "contact", contact.id, from_level=before, to_level="vetted",
                 reason="approval", approval=str(approval.id), approver=str(decider.id),
                 requester=str(approval.requested_by_id) if approval.requested_by_id else None)
    return True


def contact_warnings(contact, kind):
    """Warnings for a follow-up of ``kind`` on ``contact`` (do not call / text)."""
    warnings = []
    if kind == "call" and contact.do_not_call:
        warnings.append(_l("Do not call this person."))
    if kind == "message" and contact.do_not_text:
        warnings.append(_l("Do not text this person."))
    if contact.safe_channel == "in_person_only" and kind in ("call", "message", "send_information"):
        warnings.append(_l("This person is to be reached in person only."))
    return warnings
