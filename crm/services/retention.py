"""Retention by stage: archive people the organisation no longer works with, then erase them.

Three rules (docs/decisions/0024-retention.md), each with its period in days
(``RETENTION_*_DAYS``, 0 turns a rule off), counted from the contact's **last
activity**: its creation, a stage change, a note, a follow-up completed, an
attendance, a triage decision (or snooze), whichever is latest.

- ``declined``: every path is ``declined``, or triage found the person not a fit;
- ``withdrawn``: every path is closed and at least one is ``withdrawn``;
- ``stale``: every path (if any) is still ``interested``.

A due contact is **archived** (``Contact.archived_at``): ``permissions.contact_clause``
then hides it from every list, search, count, export, queue and page; its values stay
encrypted. ``RETENTION_GRACE_DAYS`` after that, the daily job **erases** it through
``crm.services.erasure`` (values, indexes and Redis keys go; anonymous counts stay).
An admin may **hold** a person out of both steps (reason encrypted) or **restore** an
archived one (the reason becomes a note, which is activity: the clock starts again).

The job (``run``) works from what the database says is due, in batches that each
commit: killed half-way, the next run carries on; run twice, it finds nothing to do.
"""
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, literal, or_, select, union_all, update

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import (
    Attendance,
    Contact,
    ContactNote,
    ContactTriage,
    FollowUp,
    PathChoice,
    RetentionHold,
    StageChange,
)
from ..models.base import utcnow
from ..models.enums import RETENTION_REASONS
from ..security import audit, permissions
from . import reconcile
from .contacts import ValidationError

FORECAST_DAYS = 30
SHOWN = 100
REASON_MAX = 1000


class RetentionRefused(ServiceError):
    """A hold, release or restore the rules refuse (nothing changed)."""


@dataclass(frozen=True)
class Periods:
    """The rules' periods (None: rule off) and the grace between archive and erasure."""

    declined: timedelta | None
    withdrawn: timedelta | None
    stale: timedelta | None
    grace: timedelta

    @classmethod
    def from_config(cls, config):
        def days(name):
            value = int(config[name])
            return timedelta(days=value) if value > 0 else None

        return cls(days("RETENTION_DECLINED_DAYS"), days("RETENTION_WITHDRAWN_DAYS"),
                   days("RETENTION_STALE_DAYS"), timedelta(days=max(1, int(config["RETENTION_GRACE_DAYS"]))))

    def of(self, reason):
        return getattr(self, reason)


@dataclass(frozen=True)
class Due:
    contact_id: object
    reason: str
    on: object  # when it is (or was) due: archive day, or erase day


def aware(value):
    """SQLite gives naive datetimes back; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# --- what is due ----------------------------------------------------------------------

def _last_activity(ids=None):
    """(contact_id, last) over every kind of activity (see the module docstring); only for
    ``ids`` when given (the job re-checks a batch without grouping the whole database)."""
    def only(stmt, column):
        return stmt if ids is None else stmt.where(column.in_(ids))

    parts = union_all(
        only(select(Contact.id.label("contact_id"), Contact.created_at.label("at")), Contact.id),
        only(select(PathChoice.contact_id, StageChange.at)
             .join(StageChange, StageChange.path_choice_id == PathChoice.id), PathChoice.contact_id),
        only(select(ContactNote.contact_id, ContactNote.created_at), ContactNote.contact_id),
        only(select(FollowUp.contact_id, FollowUp.completed_at).where(FollowUp.completed_at.is_not(None)),
             FollowUp.contact_id),
        only(select(Attendance.contact_id, Attendance.created_at), Attendance.contact_id),
        only(select(ContactTriage.contact_id, ContactTriage.updated_at), ContactTriage.contact_id),
    ).subquery()
    return (select(parts.c.contact_id, func.max(parts.c.at).label("last"))
            .group_by(parts.c.contact_id).subquery())


def _path_counts(ids=None):
    def stage_count(stage):
        return func.sum(case((PathChoice.stage == stage, 1), else_=0))

    stmt = (select(PathChoice.contact_id, func.count().label("n"),
                   stage_count("declined").label("declined"), stage_count("withdrawn").label("withdrawn"),
                   stage_count("interested").label("interested"))
            .group_by(PathChoice.contact_id))
    if ids is not None:
        stmt = stmt.where(PathChoice.contact_id.in_(ids))
    return stmt.subquery()


def _reason_expression(paths):
    n = func.coalesce(paths.c.n, 0)
    declined = func.coalesce(paths.c.declined, 0)
    withdrawn = func.coalesce(paths.c.withdrawn, 0)
    interested = func.coalesce(paths.c.interested, 0)
    return case(
        (or_(Contact.status == "not_a_fit", and_(n > 0, declined == n)), literal("declined")),
        (and_(n > 0, declined + withdrawn == n), literal("withdrawn")),
        (interested == n, literal("stale")),
        else_=literal(None),
    )


def _not_held():
    return ~exists().where(RetentionHold.contact_id == Contact.id)


def due_for_archive(periods, until, ids=None, clause=None):
    """Contacts not archived, not held, whose rule is due on or before ``until``
    (``Due`` with the day it is due), oldest first."""
    reasons = [r for r in RETENTION_REASONS if periods.of(r) is not None]
    if not reasons:
        return []
    last, paths = _last_activity(ids), _path_counts(ids)
    reason = _reason_expression(paths).label("reason")
    stmt = (select(Contact.id, reason, last.c.last)
            .join(last, last.c.contact_id == Contact.id)
            .outerjoin(paths, paths.c.contact_id == Contact.id)
            .where(Contact.archived_at.is_(None), _not_held(),
                   or_(*(and_(reason == r, last.c.last <= until - periods.of(r)) for r in reasons)))
            .order_by(last.c.last, Contact.id))
    if ids is not None:
        stmt = stmt.where(Contact.id.in_(ids))
    if clause is not None:
        stmt = stmt.where(clause)
    return [Due(row.id, row.reason, aware(row.last) + periods.of(row.reason)) for row in db.session.execute(stmt)]


def due_for_erasure(periods, until, ids=None, clause=None):
    """Archived contacts, not held, whose grace ends on or before ``until``, oldest first."""
    stmt = (select(Contact.id, Contact.archive_reason, Contact.archived_at)
            .where(Contact.archived_at.is_not(None), Contact.archived_at <= until - periods.grace, _not_held())
            .order_by(Contact.archived_at, Contact.id))
    if ids is not None:
        stmt = stmt.where(Contact.id.in_(ids))
    if clause is not None:
        stmt = stmt.where(clause)
    return [Due(row.id, row.archive_reason, aware(row.archived_at) + periods.grace)
            for row in db.session.execute(stmt)]


# --- people who came back -----------------------------------------------------------------

def _activity_since_archived():
    """True for an archived contact with any activity (or a new consent) after its archiving."""
    after = Contact.archived_at
    return or_(
        Contact.consent_at > after,
        exists().where(PathChoice.contact_id == Contact.id, StageChange.path_choice_id == PathChoice.id,
                       StageChange.at > after),
        exists().where(ContactNote.contact_id == Contact.id, ContactNote.created_at > after),
        exists().where(FollowUp.contact_id == Contact.id, FollowUp.completed_at > after),
        exists().where(Attendance.contact_id == Contact.id, Attendance.created_at > after),
        exists().where(ContactTriage.contact_id == Contact.id, ContactTriage.updated_at > after),
    )


def bring_back_returned():
    """Un-archive people who came back (a confirmed registration merged into them, an
    import or a capture attached to them): activity after the archiving wins. Flushes;
    returns how many. Also a reconcile step (every minute), so they are not hidden long."""
    ids = list(db.session.scalars(select(Contact.id).where(Contact.archived_at.is_not(None),
                                                           _activity_since_archived())))
    for contact_id in ids:
        db.session.execute(update(Contact).where(Contact.id == contact_id)
                           .values(archived_at=None, archive_reason=None, version_id=Contact.version_id + 1)
                           .execution_options(synchronize_session=False))
        audit.record("retention.returned", "contact", contact_id)
    db.session.flush()
    return len(ids)


@reconcile.step("retention_returned")
def _reconcile_returned(app, now):
    return bring_back_returned()


# --- the daily job ----------------------------------------------------------------------

def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def archive_due(periods, now, batch):
    """Archive every contact due now, ``batch`` per transaction; returns how many."""
    done = 0
    for chunk in _chunks([d.contact_id for d in due_for_archive(periods, now)], batch):
        # Checked again inside the batch: a note or a hold since the list was made wins.
        by_reason = {}
        for due in due_for_archive(periods, now, ids=chunk):
            by_reason.setdefault(due.reason, []).append(due.contact_id)
        for reason, ids in by_reason.items():
            db.session.execute(
                update(Contact).where(Contact.id.in_(ids), Contact.archived_at.is_(None))
                .values(archived_at=now, archive_reason=reason, version_id=Contact.version_id + 1)
                .execution_options(synchronize_session=False))
            for contact_id in ids:
                audit.record("retention.archived", "contact", contact_id, reason=reason)
            done += len(ids)
        db.session.commit()
    return done


def erase_due(periods, now, batch, forget_redis=None):
    """Erase every archived contact whose grace has ended, ``batch`` per transaction.

    ``forget_redis(results)`` deletes their Redis keys before each commit (the erase
    job's order: see crm/services/erasure_redis.py). Returns how many were erased.
    """
    from . import erasure

    done = 0
    for chunk in _chunks([d.contact_id for d in due_for_erasure(periods, now)], batch):
        results = [result for due in due_for_erasure(periods, now, ids=chunk)
                   if (result := erasure.erase(due.contact_id, via="retention")) is not None]
        if results and forget_redis is not None:
            forget_redis(results)
        db.session.commit()
        done += len(results)
    return done


def run(config, now=None, forget_redis=None):
    """The daily job: archive what is due, then erase what has served its grace."""
    periods = Periods.from_config(config)
    now = now or utcnow()
    batch = max(1, int(config["RETENTION_BATCH"]))
    bring_back_returned()
    db.session.commit()
    archived = archive_due(periods, now, batch)
    erased = erase_due(periods, now, batch, forget_redis)
    return {"archived": archived, "erased": erased}


# --- the admin page ---------------------------------------------------------------------

@dataclass
class Forecast:
    archive: list  # Due, archive day within the window
    erase: list  # Due, erase day within the window (already archived, or archived first)
    counts: dict  # {"archive"|"erase": Counter(reason -> n)}


def forecast(periods, now=None, days=FORECAST_DAYS):
    """What the job will archive and erase in the next ``days`` days (nothing held)."""
    now = now or utcnow()
    until = now + timedelta(days=days)
    archive = [Due(d.contact_id, d.reason, max(d.on, now)) for d in due_for_archive(periods, until)]
    erase = due_for_erasure(periods, until)
    erase = [Due(d.contact_id, d.reason, max(d.on, now)) for d in erase]
    erase += [Due(d.contact_id, d.reason, d.on + periods.grace) for d in archive if d.on + periods.grace <= until]
    erase.sort(key=lambda d: (d.on, str(d.contact_id)))
    return Forecast(archive, erase, {"archive": Counter(d.reason for d in archive),
                                     "erase": Counter(d.reason for d in erase)})


def _visible_ids(user, ids):
    """Of ``ids``, those ``user`` may read (clearance rules; archived ones included)."""
    if not ids:
        return set()
    return set(db.session.scalars(select(Contact.id).where(
        Contact.id.in_(ids), permissions.contact_clause(user, include_archived=True))))


def page_rows(user, dues, chunk=500):
    """The first ``SHOWN`` of ``dues`` that ``user`` may read, as (Due, Contact), and how many
    more there are. Only these rows are loaded (and so decrypted) by the page; visibility is
    asked a chunk at a time, so a long forecast never becomes one huge IN list."""
    shown = []
    for start in range(0, len(dues), chunk):
        part = dues[start:start + chunk]
        visible = _visible_ids(user, [d.contact_id for d in part])
        shown += [d for d in part if d.contact_id in visible][:SHOWN - len(shown)]
        if len(shown) >= SHOWN:
            break
    contacts = {c.id: c for c in db.session.scalars(
        select(Contact).where(Contact.id.in_([d.contact_id for d in shown])))}
    return [(d, contacts[d.contact_id]) for d in shown], len(dues) - len(shown)


def archived(user, periods, limit=SHOWN):
    """Every archived contact ``user`` may read (oldest first), with its erase day."""
    rows = db.session.execute(
        select(Contact).where(Contact.archived_at.is_not(None), permissions.contact_clause(user, include_archived=True))
        .order_by(Contact.archived_at, Contact.id).limit(limit)).scalars()
    return [(Due(c.id, c.archive_reason, aware(c.archived_at) + periods.grace), c) for c in rows]


def held(user, limit=SHOWN):
    """(RetentionHold, Contact) of every hold on a contact ``user`` may read, newest first."""
    return [tuple(row) for row in db.session.execute(
        select(RetentionHold, Contact).join(Contact, Contact.id == RetentionHold.contact_id)
        .where(permissions.contact_clause(user, include_archived=True))
        .order_by(RetentionHold.held_at.desc(), RetentionHold.id).limit(limit))]


def audit_shown(contact_ids):
    """The page decrypts these people's names: one audit event naming their ids."""
    audit.record("retention.view", None, None, contacts=[str(i) for i in contact_ids])


# --- holds and restores -----------------------------------------------------------------

def check_reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _l("Give a reason.")})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": _l("is too long (at most %(num)d characters)", num=REASON_MAX)})
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in "\n\r\t" for ch in reason):
        raise ValidationError({"reason": _l("contains control or invisible formatting characters")})
    return reason


def _load(contact_id, user):
    if not permissions.can(user, "contacts.erase"):
        raise NotFound("not found")
    contact = db.session.scalar(select(Contact).where(
        Contact.id == contact_id, permissions.contact_clause(user, include_archived=True)))
    if contact is None:
        raise NotFound("not found")
    return contact


def hold(contact_id, reason, user):
    """Keep a person out of retention; the reason is stored encrypted, never audited."""
    contact = _load(contact_id, user)
    reason = check_reason(reason)
    if db.session.scalar(select(RetentionHold.id).where(RetentionHold.contact_id == contact.id)):
        raise RetentionRefused(_l("This person is already held."))
    row = RetentionHold(contact_id=contact.id, held_by_id=user.id)
    row.reason = reason
    db.session.add(row)
    db.session.flush()
    audit.record("retention.hold", "contact", contact.id)
    return row


def release(contact_id, user):
    """End a hold: the person is under the rules again (audited). No hold: a clean no-op."""
    contact = _load(contact_id, user)
    row = db.session.scalar(select(RetentionHold).where(RetentionHold.contact_id == contact.id))
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    audit.record("retention.release", "contact", contact.id)
    return True


def restore(contact_id, reason, user):
    """Bring an archived person back; the reason is added as a note (encrypted), which is
    activity, so the rules' clock starts again."""
    from . import contact_notes

    contact = _load(contact_id, user)
    reason = check_reason(reason)
    if contact.archived_at is None:
        raise RetentionRefused(_l("This person is not archived."))
    was = contact.archive_reason
    contact.archived_at = None
    contact.archive_reason = None
    db.session.flush()
    contact_notes.add_note(contact, reason, user)
    audit.record("retention.restored", "contact", contact.id, reason=was)
    return contact
