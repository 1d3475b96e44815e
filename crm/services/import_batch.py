"""One batch of an import: match, create, merge, attend, fire follow-up rules.

``decide(run, rows, user, carried)`` takes the batch's parsed rows
(``import_rows.ParsedRow``), only reads, and returns a ``Plan``: the new contacts' sealed
rows, the merges and the ``import_row`` dicts in record order. ``write(run, plan, user)``
carries it out and only flushes; the caller commits the batch with its cursor. On
PostgreSQL the next batch is decided while this one is written (decision 0032), so the
batch before's new contacts and keys are matched from what it carried, never from the
database. Matching is in ``import_match``.
"""
import uuid
from collections import ChainMap
from dataclasses import dataclass, field

from sqlalchemy import select

from ..extensions import db
from ..models import Attendance
from ..models.base import utcnow
from ..models.bulk import insert_rows
from ..security import audit
from . import import_match as match
from . import signals, trust
from .contacts import contact_rows, insert_contact_rows, start_paths
from .followup_firing import apply_rules_batch, fired_by_caller
from .import_rows import merge_into, same_words

FILL_FIELDS = ("email", "phone", "messenger", "city", "country", "skills", "languages")


@dataclass
class Carried:
    """What the batch before left for the next one to match against in memory: its keys
    (email, phone, and name + city rows) with the contact each went to, and the ids of the
    contacts it created, which the next batch never takes from the database (whether the
    write of that batch has committed yet or not, so the outcome never depends on timing)."""

    keys: dict = field(default_factory=dict)
    created: frozenset = frozenset()


@dataclass
class Plan:
    """A decided batch: what ``write`` inserts, merges and records (decision 0032)."""

    prepared: list  # ContactRows / BoundContactRows of the new contacts
    merges: dict  # {contact id: [ContactData]} for contacts already in the database
    outcomes: list  # ImportRow dicts in record order
    carried: Carried


def decide(run, rows, user, carried=None):
    """Match the batch and decide each row's outcome; writes nothing (its queries only read).

    ``carried`` is the previous batch's ``Carried``: its new contacts are matched from
    memory (``_pending_match``), not from the database, so this can run while that batch is
    still being written on another connection.
    """
    carried = carried or Carried()
    valid = [i for i, row in enumerate(rows) if row.data is not None]
    parsed = [rows[i] for i in valid]
    known = match.fingerprint_matches(run.id, {r.fingerprint for r in parsed})
    reach, candidates = match.reach_candidates(parsed, user)
    need_name = [i for i, row in enumerate(parsed) if row.matches_by_name]
    names = match.name_candidates(parsed, need_name) if need_name else {}
    name_ids = {c for s in names.values() for c in s}
    candidates.update(match.load(name_ids, user))  # every field: compared by name and city
    candidates.update(match.load(set(known.values()) - set(candidates), user, fields=()))
    for contact_id in carried.created & set(candidates):
        del candidates[contact_id]  # matched from memory below, written or not
    targets = [candidates.get(known.get(row.fingerprint)) or match.best_match(
        row, reach.get(j), names.get(j, set()), candidates, run.region) for j, row in enumerate(parsed)]
    # Asked only of the contacts rows matched (about one in ten), not of every colliding candidate.
    matched = {target.id for target in targets if target is not None}
    ours = match.created_by(run.id, matched) | carried.created
    flagged = signals.flagged_ids(matched)  # flagged contacts are never merged automatically (0022)
    pending, sealed, outcome_of = [], [], {}
    own_keys = {NAMES: []}  # what this batch's rows bring: carried on to the next batch, alone
    pending_keys = ChainMap(own_keys, carried.keys)
    merges = {}
    for i, row, target in zip(valid, parsed, targets):
        if target is not None and target.id in flagged:
            target = None
        ref = target.id if target is not None else _pending_match(row, pending_keys)
        if isinstance(ref, uuid.UUID):  # a contact in the database, or written by the batch before
            outcome_of[i] = ("duplicate" if ref in ours else "merged", ref)
            merges.setdefault(ref, []).append(row.data)
            _remember(row, ref, pending_keys)  # a later row may match what this one brought
            continue
        if ref is not None:  # a row created earlier in this batch
            merged = merge_into(pending[ref], row.data)
            if merged != pending[ref]:
                pending[ref], sealed[ref] = merged, None  # sealed again below
            outcome_of[i] = ("duplicate", ref)
            _remember(row, ref, pending_keys)
            continue
        outcome_of[i] = ("created", len(pending))
        _remember(row, len(pending), pending_keys)
        pending.append(row.data)
        sealed.append(row.rows)
    actor_id = user.id if user else None
    now = utcnow()
    prepared = [rows if rows is not None else contact_rows(data, actor_id, now) for data, rows in zip(pending, sealed)]
    created_ids = [item.id for item in prepared]
    outcomes = []
    for i, row in enumerate(rows):
        if row.data is None:
            outcomes.append(_outcome(run, row, "rejected", None, row.reason))
            continue
        outcome, ref = outcome_of[i]
        outcomes.append(_outcome(run, row, outcome, created_ids[ref] if isinstance(ref, int) else ref, None))
    return Plan(prepared, merges, outcomes, _carry(own_keys, created_ids))


NAMES = ("names", None)  # the pending_keys entry of rows matched by name and city


def _carry(pending_keys, created_ids):
    """The batch's keys with this batch's row indexes turned into the contact ids they became."""
    def contact(ref):
        return created_ids[ref] if isinstance(ref, int) else ref

    keys = {key: contact(ref) for key, ref in pending_keys.items() if key != NAMES}
    keys[NAMES] = [(contact(ref), *rest) for ref, *rest in pending_keys.get(NAMES, ())]
    return Carried(keys, frozenset(created_ids))


def write(run, plan, user):
    """Insert the new contacts, merge, record attendance and fire the follow-up rules (flushes only)."""
    created_ids = insert_contact_rows(plan.prepared, sources={"import"})
    with fired_by_caller(db.session):  # _apply_followups fires the merges' stage changes below
        stage_changes = _merge(run, plan.merges, user)
    _attend(run, list(created_ids) + list(plan.merges), user)
    _apply_followups(created_ids, stage_changes)


def _outcome(run, row, outcome, contact_id, reason):
    return {"import_id": run.id, "record": row.record, "outcome": outcome, "contact_id": contact_id,
            "reason": reason, "fingerprint": row.fingerprint}


def _keys(row):
    keys = [("email", row.email)] if row.email else []
    keys += [("phone", p) for p in row.phones]
    return keys


def _remember(row, index, pending_keys):
    """Note the keys ``row`` brings (in the batch's own map: ``pending_keys.maps[0]``)."""
    for key in _keys(row):
        pending_keys.setdefault(key, index)
    if row.data.city:
        pending_keys.maps[0][NAMES].append(
            (index, row.email, row.phones[0] if row.phones else None, row.data.full_name, row.data.city))


def _pending_match(row, pending_keys):
    """The batch's own row or contact (or the batch before's contact) that ``row`` is, if any."""
    for key in _keys(row):
        if key in pending_keys:
            return pending_keys[key]
    if row.matches_by_name:
        for keys in reversed(pending_keys.maps):  # the batch before's first, then this one's
            for index, email, phone, full_name, city in keys.get(NAMES, ()):
                if (not match.conflicts(row, email, phone, None)
                        and same_words(row.data.full_name, full_name) and same_words(row.data.city, city)):
                    return index
    return None


def _merge(run, merges, user):
    """Fill blank fields and add new paths of matched contacts; return new stage change ids."""
    changes = []
    actor_id = user.id if user else None
    contacts = match.load_contacts(merges)
    for contact_id, datas in merges.items():
        contact = contacts[contact_id]
        filled = []
        for data in datas:
            for name in FILL_FIELDS:
                value = getattr(data, name)
                if value and not match.plain(getattr(contact, name)):
                    setattr(contact, name, value)
                    filled.append(name)
        started = start_paths(contact, [p for data in datas for p in data.paths], actor_id=actor_id)
        added = list(started)
        changes.extend(started.values())
        if filled or added:
            contact.updated_at = utcnow()
            audit.record("contact.import_merge", "contact", contact.id, import_id=str(run.id),
                         fields=sorted(set(filled)), paths=added)
    db.session.flush()
    return [c.id for c in changes]


def _attend(run, contact_ids, user):
    """Record attendance at the run's meeting for the batch's created and matched contacts."""
    if run.meeting_id is None or not contact_ids:
        return
    recorded_by = user.id if user else None
    wanted = set(contact_ids)
    have = set(db.session.scalars(select(Attendance.contact_id).where(
        Attendance.meeting_id == run.meeting_id, Attendance.contact_id.in_(list(wanted)))))
    rows = [{"meeting_id": run.meeting_id, "contact_id": c, "recorded_by_id": recorded_by}
            for c in wanted - have]
    insert_rows(db.session, Attendance.__table__, rows)
    trust.mark_met(wanted)  # the sheet is of a meeting: its people were met there


def _apply_followups(created_ids, merge_changes):
    """Run the follow-up rules over the stage changes this batch made (idempotent per change)."""
    if not (merge_changes or created_ids):
        return None
    return apply_rules_batch(merge_changes, fresh=True, contact_ids=created_ids)  # made in this batch's transaction
