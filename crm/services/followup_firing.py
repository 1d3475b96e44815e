"""Rules fire: a path choice entering a stage becomes follow-ups, once per stage entry.

Every new ``StageChange`` queues ``workers.jobs.apply_followup_rules(stage_change_id)``
after the commit (an ORM flush listener below, so capture, triage, the contact
page and merges are all covered without each remembering to). Imports, which
write stage changes with bulk inserts or fire them in the same transaction
(``fired_by_caller``), and the reconciler call ``apply_rules_batch`` with many
ids at once. Both end in the same code:

* ``rule_key = "<rule id>:<stage change id>"`` is unique, and inserts skip keys
  that exist, so a job run twice (or beside the reconciler) creates nothing more;
* a stage change or contact that no longer exists is counted as ``missing``;
* the follow-up is due ``delay_days`` after the stage was entered, whenever the
  job runs, and goes to the contact's assignee, the rule's named user or a
  cleared coordinator from the pool; on a restricted path only to a cleared user
  (otherwise the pool, otherwise nobody: the team queue shows it unassigned).
  A contact nobody is assigned to yet leaves a "contact's assignee" follow-up
  unassigned; assigning the contact in triage hands it over.
"""
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

from flask import has_app_context
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Contact, FollowUp, FollowUpRule, PathChoice, StageChange, User
from ..models.base import utcnow
from ..models.bulk import among, core_rows, insert_rows
from ..models.enums import RESTRICTED_PATHS
from ..security import audit

JOB = "workers.jobs.apply_followup_rules"
CHUNK = 2000
POOL_ROLES = ("coordinator", "admin")


def job_id(stage_change_id):
    """The RQ job id of a stage change's rule job (the reconciler checks it is live)."""
    return f"followup-rules-{stage_change_id}"


_FIRED_BY_CALLER = "muster.followups.fired_by_caller"


@contextmanager
def fired_by_caller(session):
    """Stage changes flushed inside are fired by the caller with ``apply_rules_batch`` in
    the same transaction (an import batch): no job each, which would find nothing to do."""
    session.info[_FIRED_BY_CALLER] = True
    try:
        yield
    finally:
        session.info.pop(_FIRED_BY_CALLER, None)


@event.listens_for(Session, "after_flush")
def _queue_rule_jobs(session, flush_context):
    if session.info.get(_FIRED_BY_CALLER):
        return
    changes = [obj for obj in session.new if isinstance(obj, StageChange)]
    if not changes or not has_app_context():
        return
    from .. import jobs

    for change in changes:
        jobs.enqueue(JOB, change.id, job_id=job_id(change.id), session=session)


class AssigneePool:
    """Who may get a rule's follow-up, and how loaded each coordinator already is."""

    def __init__(self):
        rows = db.session.execute(select(User.id, User.login, User.role, User.restricted_clearance)
                                  .where(User.active.is_(True))).all()
        self.cleared = {row.id: bool(row.restricted_clearance) for row in rows}
        self.coordinators = [row.id for row in sorted(rows, key=lambda r: r.login)
                             if row.role in POOL_ROLES and row.restricted_clearance]
        self.load = defaultdict(int)
        if self.coordinators:
            counts = db.session.execute(
                select(FollowUp.assignee_id, func.count()).where(FollowUp.status == "open",
                                                                 FollowUp.assignee_id.in_(self.coordinators))
                .group_by(FollowUp.assignee_id))
            self.load.update(dict(counts.all()))

    def allowed(self, user_id, path):
        return user_id in self.cleared and (path not in RESTRICTED_PATHS or self.cleared[user_id])

    def from_pool(self, rule):
        if not self.coordinators:
            return None
        if rule.strategy == "round_robin":
            order = self.coordinators
            after = order.index(rule.last_assignee_id) + 1 if rule.last_assignee_id in order else 0
            chosen = order[after % len(order)]
            rule.last_assignee_id = chosen
        else:
            chosen = min(self.coordinators, key=lambda uid: self.load[uid])  # stable: login order on ties
        return chosen

    def pick(self, rule, path, contact_assignee_id):
        if rule.assign_to == "contact_assignee" and contact_assignee_id is None:
            return None  # nobody yet: assigning the contact hands it over (followups.reassign_open_for_contact)
        if rule.assign_to == "contact_assignee" and self.allowed(contact_assignee_id, path):
            chosen = contact_assignee_id
        elif rule.assign_to == "user" and self.allowed(rule.assignee_id, path):
            chosen = rule.assignee_id
        else:
            chosen = self.from_pool(rule)
        if chosen is not None:
            self.load[chosen] += 1
        return chosen


def _active_rules():
    rules = defaultdict(list)
    for rule in db.session.scalars(select(FollowUpRule).where(FollowUpRule.active.is_(True))
                                   .order_by(FollowUpRule.id)):
        rules[(rule.path, rule.stage)].append(rule)
    return rules


def _insert_ignoring_duplicates(rows):
    """Insert follow-up rows; a row whose rule_key exists (a concurrent run) is skipped."""
    dialect = db.session.connection().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - the two backends we run on
        dialect_insert = insert
    statement = dialect_insert(FollowUp.__table__)
    if dialect in ("postgresql", "sqlite"):
        statement = statement.on_conflict_do_nothing(index_elements=["rule_key"])
    db.session.execute(statement, rows)


def apply_rules_batch(stage_change_ids, fresh=False, contact_ids=()):
    """Create the follow-ups every active rule asks for, for each stage change; returns counts.

    ``contact_ids``: also every stage change of these contacts' paths (an import batch's
    new contacts: their first stage changes, found in the same query that reads them).
    ``fresh``: the stage changes were made in the caller's transaction (an import batch),
    so no other transaction can have fired them yet: the rows go in with ``insert_rows``
    (COPY on PostgreSQL) instead of an INSERT ... ON CONFLICT per row.
    """
    ids = sorted({int(i) for i in stage_change_ids})
    contact_ids = list(contact_ids)
    result = {"stage_changes": len(ids), "created": 0, "missing": 0, "no_rule": 0, "already": 0}
    rules = _active_rules()
    if not (ids or contact_ids) or not rules:
        result["no_rule"] = len(ids) if not rules else 0
        return result
    pool, now = AssigneePool(), utcnow()
    for asked, found in _changes(ids, contact_ids):
        if asked is None:
            result["stage_changes"] += len(found)
        else:
            result["missing"] += asked - len(found)
        planned = []
        for change in found:
            matching = rules.get((change.path, change.to_stage))
            if not matching:
                result["no_rule"] += 1
            for rule in matching or ():
                planned.append((f"{rule.id}:{change.id}", rule, change))
        if not planned:
            continue
        # A fresh stage change was made in this transaction: nothing can have fired it yet.
        existing = set() if fresh else set(db.session.scalars(select(FollowUp.rule_key).where(
            among(db.session, FollowUp.rule_key, [key for key, _, _ in planned]))))
        result["already"] += len(existing)
        rows = [_row(key, rule, change, pool, now) for key, rule, change in planned if key not in existing]
        if rows:
            if fresh:
                insert_rows(db.session, FollowUp.__table__, rows)
            else:
                _insert_ignoring_duplicates(rows)
            result["created"] += len(rows)
    db.session.flush()  # round-robin cursors
    if result["created"]:
        audit.record("followup.rules_applied", "stage_change", ids[0] if len(ids) == 1 and not contact_ids else None,
                     stage_changes=result["stage_changes"], created=result["created"])
    return result


def _changes(ids, contact_ids):
    """(how many asked for, or None; the stage changes found) by chunks: those of ``ids``,
    then every stage change of the paths of ``contact_ids``."""
    query = (select(StageChange.id, StageChange.to_stage, StageChange.at, PathChoice.path,
                    PathChoice.contact_id, Contact.assignee_id)
             .join(PathChoice, PathChoice.id == StageChange.path_choice_id)
             .join(Contact, Contact.id == PathChoice.contact_id))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        yield len(chunk), core_rows(db.session, query.where(among(db.session, StageChange.id, chunk))).all()
    for start in range(0, len(contact_ids), CHUNK):
        chunk = contact_ids[start:start + CHUNK]
        yield None, core_rows(db.session, query.where(among(db.session, PathChoice.contact_id, chunk))).all()


def _row(key, rule, change, pool, now):
    at = change.at or now
    return {
        "id": uuid.uuid4(), "contact_id": change.contact_id, "path": change.path, "kind": rule.kind,
        "due_at": at + timedelta(days=rule.delay_days),
        "assignee_id": pool.pick(rule, change.path, change.assignee_id), "status": "open",
        "rule_key": key, "rule_id": rule.id, "rule_version": rule.version, "stage_change_id": change.id,
        "created_at": now, "updated_at": now,
    }


def apply_rules(stage_change_id):
    """The job body for one stage change (see ``apply_rules_batch``)."""
    return apply_rules_batch([stage_change_id])


def unfired_stage_changes(lookback_days, limit=50_000, older_than=None):
    """Stage changes of the last ``lookback_days`` that an active rule matches but that
    have no follow-up from it (their job was lost, or they came in by bulk insert).

    A rule only answers for stage changes made after it was created: a new rule
    does not create work for last year's entries.
    """
    cutoff = utcnow() - timedelta(days=lookback_days)
    older_than = older_than or utcnow()
    stmt = (select(StageChange.id).distinct()
            .join(PathChoice, PathChoice.id == StageChange.path_choice_id)
            .join(FollowUpRule, (FollowUpRule.path == PathChoice.path) & (FollowUpRule.stage == StageChange.to_stage)
                  & FollowUpRule.active.is_(True))
            .where(StageChange.at >= cutoff, StageChange.at < older_than, StageChange.at >= FollowUpRule.created_at,
                   ~select(FollowUp.id).where(FollowUp.rule_id == FollowUpRule.id,
                                              FollowUp.stage_change_id == StageChange.id).exists())
            .order_by(StageChange.id).limit(limit))
    return list(db.session.scalars(stmt))
