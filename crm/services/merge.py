"""Merging two contacts into one, and undoing it within MERGE_UNDO_DAYS.

The survivor keeps its id; for each encrypted field the coordinator picks whose
value to keep. Everything else of the merged-away contact moves over:
attendances (one per meeting), notes, follow-ups, path choices (a path both
had keeps the most advanced stage and both histories), and rows other modules
hang on a contact. The merged-away row is deleted and a ``ContactMerge`` row
records its id (old links redirect) and a sealed snapshot of what an undo
needs. Both contacts' ``version_id`` are checked: a concurrent edit stops the
merge with ``MergeConflict`` and nothing is changed.

Undo recreates the merged contact under its old id, moves back the rows that
came from it (those still on the survivor), and restores each survivor field
the merge changed unless it was edited since. Services flush; callers commit.
"""
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Attendance, Contact, ContactNote, FollowUp, PathChoice, StageChange
from ..models.base import utcnow
from ..models.enums import STAGE_ORDER
from ..models.merge import ContactMerge, DuplicateDismissal
from ..models.triage import ContactTriage
from ..security import audit, permissions
from ..security.fields import UNREADABLE
from . import contacts as contact_service
from .contact_edit import EDITABLE
from .duplicates import load_pair

MERGE_FIELDS = EDITABLE
META_FIELDS = ("assignee_id", "preferred_locale", "consent_at", "consent_version", "created_at")
# Tables this module moves row by row; any other table with a contact foreign key is re-pointed.
HANDLED_TABLES = {"contact", "contact_index", "path_choice", "attendance", "follow_up", "contact_note",
                  "contact_triage", "contact_merge", "duplicate_dismissal"}
MAX_REDIRECT_HOPS = 20


class MergeConflict(ServiceError):
    """One of the two contacts changed since the merge screen was shown."""


@dataclass(frozen=True)
class MergeRequest:
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    survivor_version: int
    merged_version: int
    take_from_merged: frozenset = field(default_factory=frozenset)  # field names


@dataclass
class UndoResult:
    merge: ContactMerge
    restored: Contact
    kept: list  # survivor fields edited since the merge, left as they are now


def undo_days():
    return int(current_app.config.get("MERGE_UNDO_DAYS", 30))


def stage_rank(stage):
    """Open stages by progress; a closed path (declined, withdrawn) ranks below any open one."""
    return STAGE_ORDER.get(stage, -1)


def default_choices(survivor, merged):
    """Fields to take from ``merged`` by default: those the survivor lacks."""
    return frozenset(name for name in MERGE_FIELDS
                     if getattr(survivor, name) is None and getattr(merged, name) is not None)


def _text(value):
    return None if value is None else str(value)


def _when(value):
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _parse_when(value):
    return None if value is None else datetime.fromisoformat(value)


def _meta(contact):
    return {"assignee_id": _text(contact.assignee_id), "preferred_locale": contact.preferred_locale,
            "consent_at": _when(contact.consent_at), "consent_version": contact.consent_version,
            "created_at": _when(contact.created_at)}


def _check_readable(*contacts):
    for contact in contacts:
        if any(getattr(contact, name) is UNREADABLE for name in MERGE_FIELDS):
            raise ServiceError(_l("a value of one of these contacts cannot be decrypted; fix it first"))


def _merged_meta(survivor, merged):
    """Survivor's metadata after the merge: blanks filled, earliest creation, latest consent."""
    after = _meta(survivor)
    other = _meta(merged)
    for name in ("assignee_id", "preferred_locale"):
        after[name] = after[name] or other[name]
    if other["consent_at"] and (not after["consent_at"] or other["consent_at"] > after["consent_at"]):
        after["consent_at"], after["consent_version"] = other["consent_at"], other["consent_version"]
    if other["created_at"] and after["created_at"] and other["created_at"] < after["created_at"]:
        after["created_at"] = other["created_at"]
    return after


def _apply_meta(contact, values):
    contact.assignee_id = uuid.UUID(values["assignee_id"]) if values["assignee_id"] else None
    contact.preferred_locale = values["preferred_locale"]
    contact.consent_at = _parse_when(values["consent_at"])
    contact.consent_version = values["consent_version"]
    contact.created_at = _parse_when(values["created_at"])


def _foreign_keys():
    """(table, column) pairs outside HANDLED_TABLES that point at contact.id."""
    existing = set(inspect(db.session.connection()).get_table_names())
    found = []
    for table in db.metadata.sorted_tables:
        if table.name in HANDLED_TABLES or table.name not in existing:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == "contact" and fk.column.name == "id":
                found.append((table, fk.parent))
    return found


def _repoint_other_rows(from_id, to_id, only_keys=None):
    """Move rows of other modules' tables from one contact to another; returns what moved."""
    moved = []
    for table, column in _foreign_keys():
        keys = list(table.primary_key.columns)
        stmt = select(*keys).where(column == from_id)
        for row in db.session.execute(stmt).all():
            key = {k.name: _text(v) for k, v in zip(keys, row)}
            if only_keys is not None and (table.name, column.name, key) not in only_keys:
                continue
            try:
                with db.session.begin_nested():
                    db.session.execute(update(table).where(*[k == v for k, v in zip(keys, row)]).values(
                        {column.name: to_id}))
            except IntegrityError:
                raise ServiceError(_l("both contacts have a record that can exist only once per person "
                                      "(%(table)s); resolve that first", table=table.name)) from None
            moved.append((table.name, column.name, key))
    return moved


def merge(request, user):
    """Merge ``request.merged_id`` into ``request.survivor_id``; returns the ContactMerge row."""
    survivor, merged = load_pair(request.survivor_id, request.merged_id, user)
    if survivor.version_id != request.survivor_version or merged.version_id != request.merged_version:
        raise MergeConflict(_l("one of these contacts was changed by someone else since this page was "
                               "shown; check the values again"))
    _check_readable(survivor, merged)
    unknown = set(request.take_from_merged) - set(MERGE_FIELDS)
    if unknown:
        raise ServiceError(_l("unknown field %(name)r", name=sorted(unknown)[0]))

    before = {name: getattr(survivor, name) for name in MERGE_FIELDS}
    after = {name: getattr(merged if name in request.take_from_merged else survivor, name)
             for name in MERGE_FIELDS}
    snapshot = {
        "merged": {"fields": {name: getattr(merged, name) for name in MERGE_FIELDS},
                   "meta": _meta(merged), "source": merged.source, "status": merged.status,
                   "updated_at": _when(merged.updated_at)},
        "survivor": {"before": {k: v for k, v in before.items() if v != after[k]},
                     "after": {k: v for k, v in after.items() if v != before[k]},
                     "meta_before": _meta(survivor)},
        "paths": [], "attendances": [], "attendances_dropped": [], "followups": [], "notes": [],
        "triage": None, "other_rows": [],
    }
    now = utcnow()
    snapshot["paths"] = _move_paths(survivor, merged, user, now)
    snapshot["attendances"], snapshot["attendances_dropped"] = _move_attendances(survivor, merged)
    followups = list(db.session.scalars(select(FollowUp).where(FollowUp.contact_id == merged.id)))
    for followup in followups:
        followup.contact = survivor
    snapshot["followups"] = [str(f.id) for f in followups]
    notes = list(db.session.scalars(select(ContactNote).where(ContactNote.contact_id == merged.id)))
    for note in notes:
        note.contact_id = survivor.id
    snapshot["notes"] = [str(n.id) for n in notes]
    triage = db.session.get(ContactTriage, merged.id)
    if triage is not None:
        snapshot["triage"] = {"snoozed_until": _when(triage.snoozed_until),
                              "not_a_fit_reason": triage.not_a_fit_reason,
                              "updated_by_id": _text(triage.updated_by_id)}
        db.session.delete(triage)
    db.session.flush()
    snapshot["other_rows"] = [list(row) for row in _repoint_other_rows(merged.id, survivor.id)]

    for name, value in snapshot["survivor"]["after"].items():
        setattr(survivor, name, value)
    meta_after = _merged_meta(survivor, merged)
    snapshot["survivor"]["meta_after"] = meta_after
    _apply_meta(survivor, meta_after)
    survivor.updated_at = now
    merged_id = merged.id
    db.session.delete(merged)
    record = ContactMerge(survivor_id=survivor.id, merged_id=merged_id, actor_id=user.id, created_at=now,
                          undo_until=now + timedelta(days=undo_days()))
    record.snapshot = json.dumps(snapshot, sort_keys=True)
    db.session.add(record)
    db.session.flush()  # a concurrent edit of either contact fails here (StaleDataError)
    contact_service.refresh_visibility([survivor.id])
    audit.record("contact.merge", "contact", survivor.id, merged=str(merged_id), merge=str(record.id),
                 fields_from_merged=sorted(snapshot["survivor"]["after"]),
                 moved={"paths": len(snapshot["paths"]), "attendances": len(snapshot["attendances"]),
                        "followups": len(followups), "notes": len(notes),
                        "other_rows": len(snapshot["other_rows"])})
    return record


def _move_paths(survivor, merged, user, now):
    """Move or fold each path choice of ``merged`` into ``survivor``; returns the undo entries."""
    entries = []
    for choice in list(merged.paths):
        own = survivor.path(choice.path)
        if own is None:
            choice.contact = survivor
            entries.append({"moved": str(choice.id)})
            continue
        history = list(choice.history)
        entry = {"path": choice.path, "survivor_choice": str(own.id), "survivor_stage_before": own.stage,
                 "choice": {"id": str(choice.id), "stage": choice.stage, "created_at": _when(choice.created_at),
                            "updated_at": _when(choice.updated_at)},
                 "history": [change.id for change in history], "added_change": None}
        for change in history:
            change.path_choice = own
        if stage_rank(choice.stage) > stage_rank(own.stage):
            change = StageChange(from_stage=own.stage, to_stage=choice.stage, actor_id=user.id, at=now)
            own.history.append(change)
            own.stage = choice.stage
            db.session.flush()
            entry["added_change"] = change.id
        entry["survivor_stage_after"] = own.stage
        merged.paths.remove(choice)
        entries.append(entry)
    return entries


def _move_attendances(survivor, merged):
    """Move attendances; one at a meeting the survivor also attended is dropped (and remembered)."""
    attended = set(db.session.scalars(select(Attendance.meeting_id).where(Attendance.contact_id == survivor.id)))
    moved, dropped = [], []
    for attendance in db.session.scalars(select(Attendance).where(Attendance.contact_id == merged.id)):
        if attendance.meeting_id in attended:
            dropped.append({"meeting_id": str(attendance.meeting_id),
                            "recorded_by_id": _text(attendance.recorded_by_id),
                            "created_at": _when(attendance.created_at)})
            db.session.delete(attendance)
        else:
            attendance.contact_id = survivor.id
            moved.append(attendance.id)
    return moved, dropped


# --- undo ------------------------------------------------------------------------------

def load_merge(merge_id, user):
    """A merge ``user`` may undo or look at (its survivor visible to them); else NotFound."""
    try:
        record = db.session.get(ContactMerge, uuid.UUID(str(merge_id)))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("not found") from None
    if record is None or not permissions.can(user, "triage.work"):
        raise NotFound("not found")
    survivor = db.session.get(Contact, record.survivor_id)
    if survivor is None or not permissions.visible(user, survivor):
        raise NotFound("not found")
    return record


def undoable(record, now=None):
    """None when ``record`` can be undone now, else the reason (safe to show)."""
    now = now or utcnow()
    until = record.undo_until if record.undo_until.tzinfo else record.undo_until.replace(tzinfo=UTC)
    if record.undone_at is not None:
        return _l("this merge was already undone")
    if now > until or record.snapshot is None:
        return _l("the time to undo this merge is over")
    if db.session.get(Contact, record.survivor_id) is None:
        return _l("the kept contact was merged again since: undo that merge first")
    if db.session.get(Contact, record.merged_id) is not None:
        return _l("the merged contact exists again")
    return None


def undo(merge_id, user, now=None):
    """Undo a merge: the merged contact comes back with its rows; returns UndoResult."""
    record = load_merge(merge_id, user)
    reason = undoable(record, now)
    if reason:
        raise ServiceError(reason)
    snapshot = json.loads(record.snapshot)
    survivor = db.session.get(Contact, record.survivor_id)
    old = snapshot["merged"]
    restored = Contact(id=record.merged_id, source=old["source"], status=old["status"])
    for name, value in old["fields"].items():
        if value is not None:
            setattr(restored, name, value)
    _apply_meta(restored, old["meta"])
    restored.updated_at = _parse_when(old["updated_at"])
    db.session.add(restored)
    db.session.flush()

    _restore_paths(snapshot["paths"], survivor, restored)
    for attendance in db.session.scalars(select(Attendance).where(
            Attendance.id.in_(snapshot["attendances"]), Attendance.contact_id == survivor.id)):
        attendance.contact_id = restored.id
    for row in snapshot["attendances_dropped"]:
        db.session.add(Attendance(meeting_id=uuid.UUID(row["meeting_id"]), contact_id=restored.id,
                                  recorded_by_id=uuid.UUID(row["recorded_by_id"]) if row["recorded_by_id"] else None,
                                  created_at=_parse_when(row["created_at"])))
    for followup in _rows_on(FollowUp, snapshot["followups"], survivor.id):
        followup.contact = restored
    for note in _rows_on(ContactNote, snapshot["notes"], survivor.id):
        note.contact_id = restored.id
    if snapshot["triage"]:
        triage = snapshot["triage"]
        db.session.add(ContactTriage(
            contact_id=restored.id, snoozed_until=_parse_when(triage["snoozed_until"]),
            not_a_fit_reason=triage["not_a_fit_reason"],
            updated_by_id=uuid.UUID(triage["updated_by_id"]) if triage["updated_by_id"] else None))
    db.session.flush()
    wanted = {(table, column, tuple(sorted(key.items()))) for table, column, key in snapshot["other_rows"]}
    _repoint_other_rows(survivor.id, restored.id, only_keys=_KeySet(wanted))

    kept = _restore_survivor(survivor, snapshot["survivor"])
    survivor.updated_at = utcnow()
    record.undone_at = utcnow()
    record.undone_by_id = user.id
    record.snapshot = None  # nothing left to undo: the restored contact holds its values again
    db.session.flush()
    contact_service.refresh_visibility([survivor.id, restored.id])
    audit.record("contact.merge_undo", "contact", survivor.id, merged=str(restored.id), merge=str(record.id),
                 kept_fields=kept)
    return UndoResult(record, restored, kept)


class _KeySet:
    """Membership test for (table, column, primary-key dict) triples."""

    def __init__(self, wanted):
        self.wanted = wanted

    def __contains__(self, item):
        table, column, key = item
        return (table, column, tuple(sorted(key.items()))) in self.wanted


def _rows_on(model, ids, contact_id):
    if not ids:
        return []
    return list(db.session.scalars(select(model).where(
        model.id.in_([uuid.UUID(i) for i in ids]), model.contact_id == contact_id)))


def _restore_paths(entries, survivor, restored):
    for entry in entries:
        if "moved" in entry:
            choice = db.session.get(PathChoice, uuid.UUID(entry["moved"]))
            if choice is not None and choice.contact_id == survivor.id:
                choice.contact = restored
            continue
        old = entry["choice"]
        choice = PathChoice(id=uuid.UUID(old["id"]), path=entry["path"], stage=old["stage"],
                            created_at=_parse_when(old["created_at"]), updated_at=_parse_when(old["updated_at"]))
        restored.paths.append(choice)
        db.session.flush()
        if entry["history"]:
            db.session.execute(update(StageChange).where(StageChange.id.in_(entry["history"]))
                               .values(path_choice_id=choice.id))
        own = db.session.get(PathChoice, uuid.UUID(entry["survivor_choice"]))
        if own is not None and own.stage == entry["survivor_stage_after"] and entry["added_change"]:
            own.stage = entry["survivor_stage_before"]
            added = db.session.get(StageChange, entry["added_change"])
            if added is not None:
                db.session.delete(added)
    db.session.flush()
    db.session.expire_all()


def _restore_survivor(survivor, saved):
    """Put back the survivor's fields the merge changed, unless edited since; returns those kept."""
    kept = []
    for name, value_after in saved["after"].items():
        if getattr(survivor, name) == value_after:
            setattr(survivor, name, saved["before"].get(name))
        else:
            kept.append(name)
    meta_now = _meta(survivor)
    meta = dict(meta_now)
    for name in META_FIELDS:
        if meta_now[name] == saved["meta_after"][name]:
            meta[name] = saved["meta_before"][name]
        elif name != "created_at":
            kept.append(name)
    _apply_meta(survivor, meta)
    return sorted(kept)


def redirect_target(contact_id, user):
    """The contact that ``contact_id`` was merged into (following later merges), if ``user`` may see it."""
    current = contact_id
    for _hop in range(MAX_REDIRECT_HOPS):
        survivor_id = db.session.scalar(
            select(ContactMerge.survivor_id).where(ContactMerge.merged_id == current,
                                                   ContactMerge.undone_at.is_(None))
            .order_by(ContactMerge.created_at.desc()).limit(1))
        if survivor_id is None:
            break
        current = survivor_id
    if current == contact_id:
        return None
    contact = db.session.get(Contact, current)
    if contact is None or not permissions.visible(user, contact):
        return None
    return contact.id


def recent_merges(user, limit=50):
    """Merges whose survivor ``user`` may see, newest first, with whether each can be undone."""
    rows = db.session.scalars(select(ContactMerge).order_by(ContactMerge.created_at.desc()).limit(limit * 4))
    shown = []
    for record in rows:
        survivor = db.session.get(Contact, record.survivor_id)
        if survivor is not None and permissions.visible(user, survivor):
            shown.append((record, survivor, undoable(record)))
        if len(shown) >= limit:
            break
    return shown


def forget_snapshots(now=None):
    """Erase the snapshots of merges past their undo window; returns how many (cron)."""
    now = now or utcnow()
    result = db.session.execute(update(ContactMerge).where(
        ContactMerge.undo_until < now, ContactMerge.snapshot_ct.is_not(None)).values(snapshot_ct=None)
        .execution_options(synchronize_session=False))
    db.session.flush()
    return result.rowcount


def forget_contact(contact_id):
    """Delete merge records naming ``contact_id`` (for an erasure: snapshots hold personal data)."""
    db.session.execute(ContactMerge.__table__.delete().where(
        (ContactMerge.survivor_id == contact_id) | (ContactMerge.merged_id == contact_id)))
    db.session.execute(DuplicateDismissal.__table__.delete().where(
        (DuplicateDismissal.low_id == contact_id) | (DuplicateDismissal.high_id == contact_id)))


@dataclass
class SideView:
    """What the merge screen shows of one contact besides its fields."""

    contact: Contact
    paths: list
    meetings: int
    notes: int
    followups: int


def side_view(contact, user):
    """Visible paths and how many meetings, notes and follow-ups ``contact`` has."""
    def count(model):
        return db.session.scalar(select(func.count()).select_from(model).where(model.contact_id == contact.id))

    followups = db.session.scalar(select(func.count()).select_from(
        permissions.visible_followups(select(FollowUp.id).where(FollowUp.contact_id == contact.id), user).subquery()))
    return SideView(contact, permissions.visible_paths(user, contact), count(Attendance), count(ContactNote),
                    followups)
