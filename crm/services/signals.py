"""Infiltration signals: raising flags, showing them, and a coordinator's decision on each.

The detectors live in ``signal_checks`` and run in jobs; this module stores what
they find (``raise_signal``, once per contact, kind and cause), answers "is this
contact flagged?" for the merge guards, lists flags for the review page and the
contact page (only contacts the viewer may see: a clearance-only contact and its
flags are not counted either), and records decisions: clear or confirm with a
note (encrypted), or block a contact outright. Confirming or blocking puts the
person's tokens on the blocklist and keeps them quarantined.
Services flush; callers commit. docs/decisions/0022-infiltration-signals.md.
"""
import uuid
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..jobs import enqueue
from ..models import Contact
from ..models.base import utcnow
from ..models.signal import LIVE_STATUSES, SIGNAL_KINDS, Signal
from ..security import audit, permissions
from . import blocklist

SCAN_JOB = "workers.jobs.scan_contact_signals"
IMPORT_SCAN_JOB = "workers.jobs.scan_import_signals"
NOTE_MAX = 1000
PAGE_SIZE = 50
BLOCK_CATEGORIES = ("infiltration", "abuse", "other")


class DecisionRefused(ServiceError):
    """A decision the rules refuse (already decided, no note); nothing changed."""


# -- raising ----------------------------------------------------------------------------

def raise_signal(contact_id, kind, cause, evidence):
    """Flag ``contact_id`` (once per kind and cause); returns the new Signal or None if it existed.

    ``evidence`` holds ids, counts and kinds only, never a value.
    """
    if kind not in SIGNAL_KINDS:
        raise ValueError(f"unknown signal kind {kind}")
    existing = db.session.scalar(select(Signal.id).where(
        Signal.contact_id == contact_id, Signal.kind == kind, Signal.cause == cause))
    if existing is not None:
        return None
    signal = Signal(contact_id=contact_id, kind=kind, cause=cause, evidence=evidence, status="open")
    try:
        with db.session.begin_nested():
            db.session.add(signal)
    except IntegrityError:  # another job raised it meanwhile
        return None
    audit.record("signal.raise", "contact", contact_id, kind=kind, signal=str(signal.id))
    return signal


def enqueue_scan(contact_id):
    """Queue the signal checks of one contact (after the surrounding transaction commits)."""
    enqueue(SCAN_JOB, contact_id, queue="default")


def flagged_ids(contact_ids):
    """Those of ``contact_ids`` with an open or confirmed signal."""
    ids = list({uuid.UUID(str(i)) for i in contact_ids})
    if not ids:
        return set()
    return set(db.session.scalars(select(Signal.contact_id).where(
        Signal.contact_id.in_(ids), Signal.status.in_(LIVE_STATUSES))))


def is_flagged(contact_id):
    return bool(flagged_ids([contact_id]))


def confirmed_ids_clause():
    """SELECT of the contact ids with a confirmed (hostile) signal: they stay quarantined."""
    return select(Signal.contact_id).where(Signal.status == "confirmed")


# -- reading ----------------------------------------------------------------------------

def live_kinds():
    """{contact id: sorted kinds} of every open or confirmed flag (the list badges; flags are few)."""
    found = {}
    for contact_id, kind in db.session.execute(
            select(Signal.contact_id, Signal.kind).where(Signal.status.in_(LIVE_STATUSES)).distinct()):
        found.setdefault(contact_id, set()).add(kind)
    return {contact_id: sorted(kinds) for contact_id, kinds in found.items()}


def _visible_statement(user, statuses):
    visible = select(Contact.id).where(permissions.contact_clause(user))
    return select(Signal).where(Signal.status.in_(statuses), Signal.contact_id.in_(visible))


def _require_review(user):
    if not permissions.can(user, "triage.work"):
        raise NotFound("not found")


@dataclass
class ReviewPage:
    signals: list
    counts: dict  # {status: count}, of the contacts the viewer may see only
    status: str
    page: int
    pages: int


def review_page(user, status="open", page=1, per_page=PAGE_SIZE):
    """Flags of contacts ``user`` may see, newest first; counts per status over the same contacts."""
    _require_review(user)
    status = status if status in ("open", "cleared", "confirmed") else "open"
    visible = select(Contact.id).where(permissions.contact_clause(user))
    counts = dict(db.session.execute(
        select(Signal.status, func.count()).where(Signal.contact_id.in_(visible)).group_by(Signal.status)).all())
    counts = {name: counts.get(name, 0) for name in ("open", "confirmed", "cleared")}
    total = counts[status]
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    signals = list(db.session.scalars(_visible_statement(user, (status,))
                                      .order_by(Signal.created_at.desc(), Signal.id)
                                      .offset((page - 1) * per_page).limit(per_page)))
    if signals:
        audit.record("signal.view", None, None, contacts=sorted({str(s.contact_id) for s in signals}))
    return ReviewPage(signals, counts, status, page, pages)


def contact_signals(contact, user):
    """Every flag of ``contact`` (already loaded as visible) for a user who reviews signals; else []."""
    if not permissions.can(user, "triage.work", contact):
        return []
    return list(db.session.scalars(select(Signal).where(Signal.contact_id == contact.id)
                                   .order_by(Signal.created_at.desc(), Signal.id)))


def _evidence_ids(signal):
    ids = []
    for value in (signal.evidence or {}).get("contacts", []):
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return ids


def visible_others(signals, user):
    """{signal id: [Contact]} of the other contacts named in each flag's evidence that ``user`` may see.

    A contact the viewer may not see is left out without a trace: not linked, not counted.
    Their names are shown, so the ids shown are audited.
    """
    ids = {i for signal in signals for i in _evidence_ids(signal)}
    seen = {c.id: c for c in db.session.scalars(
        permissions.visible_contacts(select(Contact).where(Contact.id.in_(ids)), user))} if ids else {}
    if seen:
        audit.record("signal.view", None, None, contacts=sorted(str(i) for i in seen))
    return {signal.id: [seen[i] for i in _evidence_ids(signal) if i in seen] for signal in signals}


# -- deciding ---------------------------------------------------------------------------

def _clean_note(note):
    note = (note or "").strip()
    if not note:
        raise DecisionRefused(_l("Write a note: why this flag is cleared or confirmed."))
    if len(note) > NOTE_MAX:
        raise DecisionRefused(_l("The note is too long (at most %(num)d characters).", num=NOTE_MAX))
    if not note.replace("\n", "").replace("\r", "").isprintable():
        raise DecisionRefused(_l("The note contains control or invisible formatting characters."))
    return note


def load_signal(signal_id, user):
    """The signal ``signal_id`` if ``user`` reviews signals and may see its contact; else NotFound."""
    _require_review(user)
    try:
        key = signal_id if isinstance(signal_id, uuid.UUID) else uuid.UUID(str(signal_id))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("not found") from None
    signal = db.session.get(Signal, key)
    if signal is None:
        raise NotFound("not found")
    contact = permissions.load_visible(db.session, Contact, signal.contact_id, user)
    return signal, contact


def decide(signal_id, outcome, note, user):
    """Clear (a false alarm) or confirm (hostile) one flag, with a note; audited.

    Confirming puts the contact's tokens on the blocklist and quarantines them
    (trust back to unverified; ``trust.mark_met`` leaves them there). A flag
    already decided is refused with a clear message (the refusal is audited).
    """
    signal, contact = load_signal(signal_id, user)
    if outcome not in ("clear", "confirm"):
        raise DecisionRefused(_l("Choose whether to clear or confirm the flag."))
    if signal.status != "open":
        audit.record("signal.decide_refused", "contact", contact.id, signal=str(signal.id), reason="decided")
        db.session.flush()
        raise DecisionRefused(_l("This flag was already decided."))
    note = _clean_note(note)
    signal.status = "cleared" if outcome == "clear" else "confirmed"
    signal.decided_by_id, signal.decided_at = user.id, utcnow()
    signal.note = note
    db.session.flush()
    audit.record("signal." + signal.status, "contact", contact.id, signal=str(signal.id), kind=signal.kind)
    if signal.status == "confirmed":
        entry = blocklist.add(blocklist.Details.of(contact), "hostile", user)
        audit.record("blocklist.add", None, None, reason="hostile", entry=str(entry.id) if entry else None)
        quarantine(contact, "signal_confirmed")
    return signal


def block_contact(contact_id, category, note, user):
    """Block a contact outright (a coordinator's action with a reason): tokens to the blocklist,
    quarantine, and a confirmed flag on the contact so nothing merges into it. Audited."""
    if not permissions.can(user, "triage.work"):
        raise NotFound("not found")
    contact = permissions.load_visible(db.session, Contact, contact_id, user)
    if category not in BLOCK_CATEGORIES:
        raise DecisionRefused(_l("Choose a reason for blocking."))
    note = _clean_note(note)
    entry = blocklist.add(blocklist.Details.of(contact), "blocked", user, note=note)
    cause = f"blocked:{entry.id}" if entry else "blocked"
    signal = db.session.scalar(select(Signal).where(
        Signal.contact_id == contact.id, Signal.kind == "blocklist_match", Signal.cause == cause))
    if signal is None:
        signal = Signal(contact_id=contact.id, kind="blocklist_match", cause=cause,
                        evidence={"blocked": True, "entry": str(entry.id) if entry else None,
                                  "category": category})
        db.session.add(signal)
    signal.status, signal.decided_by_id, signal.decided_at = "confirmed", user.id, utcnow()
    signal.note = note
    db.session.flush()
    audit.record("signal.block", "contact", contact.id, category=category, signal=str(signal.id))
    quarantine(contact, "blocked")
    return signal


def block_declined(contact, user):
    """A contact closed as not a fit for the organisation's reasons: their tokens join the blocklist."""
    entry = blocklist.add(blocklist.Details.of(contact), "declined", user)
    if entry is not None:
        audit.record("blocklist.add", None, None, reason="declined", entry=str(entry.id))
    return entry


def quarantine(contact, reason):
    """Trust back to unverified (coordinators only see them); audited when it changed."""
    before = contact.trust_level
    if before == "unverified":
        return False
    db.session.execute(update(Contact).where(Contact.id == contact.id)
                       .values(trust_level="unverified", version_id=Contact.version_id + 1)
                       .execution_options(synchronize_session=False))
    db.session.expire(contact, ["trust_level", "version_id"])
    audit.record("trust.change", "contact", contact.id, from_level=before, to_level="unverified", reason=reason)
    db.session.flush()
    return True
