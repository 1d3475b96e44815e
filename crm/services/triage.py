"""The triage queue: new, unassigned contacts, oldest first, and what a coordinator does with them.

The queue is a plain query on metadata (status, assignee, creation time, path
and stage rows, meetings attended) narrowed by the viewer's permissions; only
the rows of the page shown are decrypted. "City" filters on the city of the
meeting where the person was met: the city of residence is encrypted and, being
low in entropy, deliberately has no blind index.

Bulk actions take a list of contact ids and apply to all or none: an id the
user may not see fails the whole action with NotFound, so nothing is half-done.
"""
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy.orm import selectinload

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Attendance, Contact, Meeting, PathChoice, User
from ..models.base import utcnow
from ..models.enums import CONTACT_SOURCES, CONTACT_STATUSES, RESTRICTED_PATHS, STAGES
from ..models.triage import NOT_A_FIT_REASONS, ContactTriage
from ..security import audit, permissions
from . import contacts as contact_service
from . import signals
from .capture import allowed_paths
from .contacts import ValidationError
from .followups import reassign_open_for_contact

PAGE_SIZE = 25
COUNT_CAP = 10_000
MAX_SNOOZE_DAYS = 365
SORTS = ("oldest", "newest")


@dataclass(frozen=True)
class QueueFilters:
    """Filters of the queue; None means "any". ``assignee`` is "unassigned", "any" or a user id."""

    status: str = "new"
    assignee: str = "unassigned"
    meeting_id: uuid.UUID | None = None
    city: str | None = None
    path: str | None = None
    stage: str | None = None
    source: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    include_snoozed: bool = False
    sort: str = "oldest"


@dataclass
class QueueRow:
    contact: Contact
    paths: list
    meetings: list  # Meeting rows, most recent first
    triage: ContactTriage | None


@dataclass
class QueuePage:
    """One page of the queue. When ``capped``, ``total`` and ``pages`` are lower bounds
    and ``more`` says whether a next page has rows."""

    rows: list
    page: int
    pages: int
    total: int
    filters: QueueFilters = field(default_factory=QueueFilters)
    capped: bool = False
    more: bool = False


def _day_start(day):
    return datetime.combine(day, time.min, tzinfo=UTC)


def check_filters(filters, user):
    """Field errors of ``filters`` for ``user`` (a hidden path is as unknown as a made-up one)."""
    errors = {}
    if filters.status not in (*CONTACT_STATUSES, "any"):
        errors["status"] = "unknown status"
    if filters.path is not None and filters.path not in allowed_paths(user):
        errors["path"] = "unknown path"
    if filters.stage is not None and filters.stage not in STAGES:
        errors["stage"] = "unknown stage"
    if filters.source is not None and filters.source not in CONTACT_SOURCES:
        errors["source"] = "unknown source"
    if filters.sort not in SORTS:
        errors["sort"] = "unknown order"
    if filters.created_from and filters.created_to and filters.created_from > filters.created_to:
        errors["created_to"] = _l("must not be before the start of the range")
    return errors


def queue_statement(filters, user, stmt=None):
    """``stmt`` (default: SELECT Contact) narrowed to the matching contacts ``user`` may see."""
    stmt = select(Contact) if stmt is None else stmt
    if filters.status != "any":
        stmt = stmt.where(Contact.status == filters.status)
    if filters.assignee == "unassigned":
        stmt = stmt.where(Contact.assignee_id.is_(None))
    elif filters.assignee != "any":
        stmt = stmt.where(Contact.assignee_id == uuid.UUID(str(filters.assignee)))
    if not filters.include_snoozed:
        now = utcnow()
        # Most of the time nobody is snoozed: skip the anti-join (a probe per queued row) then.
        if db.session.scalar(select(ContactTriage.contact_id).where(ContactTriage.snoozed_until > now).limit(1)):
            stmt = stmt.where(~exists().where(ContactTriage.contact_id == Contact.id,
                                              ContactTriage.snoozed_until > now))
    if filters.meeting_id or filters.city:
        met = exists().where(Attendance.contact_id == Contact.id)
        if filters.meeting_id:
            met = met.where(Attendance.meeting_id == filters.meeting_id)
        if filters.city:
            met = met.where(Attendance.meeting_id == Meeting.id, Meeting.city == filters.city)
        stmt = stmt.where(met)
    if filters.path or filters.stage:
        chosen = exists().where(PathChoice.contact_id == Contact.id)
        if filters.path:
            chosen = chosen.where(PathChoice.path == filters.path)
        if filters.stage:
            chosen = chosen.where(PathChoice.stage == filters.stage)
        if not permissions.has_clearance(user):
            chosen = chosen.where(PathChoice.path.not_in(RESTRICTED_PATHS))
        stmt = stmt.where(chosen)
    if filters.source:
        stmt = stmt.where(Contact.source == filters.source)
    if filters.created_from:
        stmt = stmt.where(Contact.created_at >= _day_start(filters.created_from))
    if filters.created_to:
        stmt = stmt.where(Contact.created_at < _day_start(filters.created_to + timedelta(days=1)))
    return permissions.visible_contacts(stmt, user)


def queue_page(filters, user, page=1, per_page=PAGE_SIZE):
    """One page of the queue; decrypts nothing itself (the template reads the shown rows)."""
    errors = check_filters(filters, user)
    if errors:
        raise ValidationError(errors)
    # Count and page over ids only (an index can answer both); load just the rows shown.
    # Counting stops at COUNT_CAP: past that, "10,000+" says enough and costs nothing.
    ids = queue_statement(filters, user, select(Contact.id))
    total = db.session.scalar(select(func.count()).select_from(ids.limit(COUNT_CAP + 1).subquery()))
    capped = total > COUNT_CAP
    total = min(total, COUNT_CAP)
    pages = max(1, -(-total // per_page))
    page = max(1, page) if capped else min(max(1, page), pages)
    order = (Contact.created_at.asc(), Contact.id.asc()) if filters.sort == "oldest" \
        else (Contact.created_at.desc(), Contact.id.desc())
    shown = list(db.session.scalars(ids.order_by(*order).offset((page - 1) * per_page).limit(per_page)))
    loaded = {c.id: c for c in db.session.scalars(
        select(Contact).where(Contact.id.in_(shown)).options(selectinload(Contact.paths)))} if shown else {}
    rows = _rows([loaded[i] for i in shown if i in loaded], user)
    return QueuePage(rows, page, pages, total, filters, capped=capped, more=capped and len(shown) == per_page)


def _rows(contacts, user):
    """QueueRows for ``contacts``: their visible paths, meetings and triage state, in few queries."""
    ids = [c.id for c in contacts]
    meetings, triage = {}, {}
    if ids:
        for contact_id, meeting in db.session.execute(
            select(Attendance.contact_id, Meeting).join(Meeting, Meeting.id == Attendance.meeting_id)
            .where(Attendance.contact_id.in_(ids)).order_by(Meeting.starts_at.desc())
        ):
            meetings.setdefault(contact_id, []).append(meeting)
        triage = {t.contact_id: t for t in db.session.scalars(
            select(ContactTriage).where(ContactTriage.contact_id.in_(ids)))}
        audit.record("triage.view", None, None, contacts=[str(i) for i in ids])
    return [QueueRow(c, permissions.visible_paths(user, c), meetings.get(c.id, []), triage.get(c.id))
            for c in contacts]


def row_for(contact, user):
    """The queue row of one (visible) contact, as it is now."""
    return _rows([contact], user)[0]


def staff_choices():
    """(id, login) of the active accounts a contact can be assigned to."""
    rows = db.session.execute(select(User.id, User.login).where(User.active.is_(True)).order_by(User.login))
    return [(str(uid), login) for uid, login in rows]


def _load_all(contact_ids, user):
    """Every contact of ``contact_ids`` if ``user`` may see them all; else NotFound."""
    try:
        ids = {uuid.UUID(str(i)) for i in contact_ids}
    except (TypeError, ValueError, AttributeError):
        raise NotFound("not found") from None
    if not ids:
        raise ValidationError({"contact_ids": _l("choose at least one contact")})
    found = list(db.session.scalars(permissions.visible_contacts(
        select(Contact).where(Contact.id.in_(ids)), user)))
    if len(found) != len(ids):
        raise NotFound("not found")
    return sorted(found, key=lambda c: str(c.id))


def _require(user, permission):
    if not permissions.can(user, permission):
        raise ServiceError(_l("you may not do this"))


def _triage_row(contact):
    row = db.session.get(ContactTriage, contact.id)
    if row is None:
        row = ContactTriage(contact_id=contact.id)
        db.session.add(row)
    return row


def assign(contact_ids, assignee_id, user):
    """Hand contacts to a staff member; they leave the queue as triaged."""
    _require(user, "contacts.assign")
    try:
        assignee = db.session.get(User, uuid.UUID(str(assignee_id)))
    except (TypeError, ValueError, AttributeError):
        assignee = None
    if assignee is None or not assignee.active:
        raise ValidationError({"assignee": _l("choose an active staff member")})
    contacts = _load_all(contact_ids, user)
    for contact in contacts:
        previous = contact.assignee_id
        contact.assignee_id = assignee.id
        if contact.status == "new":
            contact.status = "triaged"
        contact.updated_at = utcnow()
        audit.record("triage.assign", "contact", contact.id, assignee=str(assignee.id))
        reassign_open_for_contact(contact.id, assignee.id, previous)  # staff see their contacts' work only
    db.session.flush()
    return contacts


def set_stage(contact_ids, path, stage, user):
    """Move one path of each contact to ``stage`` (a path not chosen yet starts there)."""
    _require(user, "triage.work")
    errors = {}
    if path not in allowed_paths(user):
        errors["path"] = "unknown path"
    if stage not in STAGES:
        errors["stage"] = "unknown stage"
    if errors:
        raise ValidationError(errors)
    contacts = _load_all(contact_ids, user)
    for contact in contacts:
        contact_service.move_stage(contact.id, path, stage, actor_id=user.id)
    return contacts


# Not a fit for the organisation's reasons: such a person registering again is flagged
# (blocklist_match, decision 0022). "not interested", "duplicate", "unreachable" are not.
DECLINED_REASONS = ("unsuitable", "suspicious")


def not_a_fit(contact_ids, reason, user):
    """Close contacts as not a fit, with one of NOT_A_FIT_REASONS."""
    _require(user, "triage.work")
    if reason not in NOT_A_FIT_REASONS:
        raise ValidationError({"reason": f"choose one of {', '.join(NOT_A_FIT_REASONS)}"})
    contacts = _load_all(contact_ids, user)
    for contact in contacts:
        contact.status = "not_a_fit"
        contact.updated_at = utcnow()
        row = _triage_row(contact)
        row.not_a_fit_reason, row.updated_by_id = reason, user.id
        audit.record("triage.not_a_fit", "contact", contact.id, reason=reason)
        if reason in DECLINED_REASONS:
            signals.block_declined(contact, user)  # a new registration of theirs is flagged
    db.session.flush()
    return contacts


def snooze(contact_ids, until, user, today=None):
    """Hide contacts from the queue until the start of day ``until`` (UTC)."""
    _require(user, "triage.work")
    today = today or utcnow().date()
    if not isinstance(until, date) or not today < until <= today + timedelta(days=MAX_SNOOZE_DAYS):
        raise ValidationError({"until": _l("choose a day after today, at most %(num)d days ahead", num=MAX_SNOOZE_DAYS)})
    contacts = _load_all(contact_ids, user)
    for contact in contacts:
        row = _triage_row(contact)
        row.snoozed_until, row.updated_by_id = _day_start(until), user.id
        audit.record("triage.snooze", "contact", contact.id, until=until.isoformat())
    db.session.flush()
    return contacts

