"""Follow-up tasks: create, complete, reschedule, reassign, cancel.

Every operation takes the acting user and checks ``permissions`` here, so the
web side, the CLI and jobs are held to the same rules: ``staff`` act only on the
follow-ups assigned to them, coordinators on every follow-up they may see, and a
follow-up on a restricted path exists only for cleared users and may only be
assigned to a cleared user. Outcomes and cancel reasons are encrypted; audit
events carry ids and keys, never their text. Services flush; the caller commits.
"""
import unicodedata
import uuid
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Contact, FollowUp, User
from ..models.base import utcnow
from ..models.enums import FOLLOWUP_KINDS, RESTRICTED_PATHS
from ..security import audit, permissions
from . import followup_mail
from .contacts import ValidationError

TEXT_MAX = 2000
MAX_DAYS_AHEAD = 365
# A follow-up due "on a day" is due at this hour (UTC) of that day.
DUE_HOUR = 9


def due_on(day):
    """The due instant of a follow-up due on ``day``."""
    return datetime.combine(day, time(DUE_HOUR), tzinfo=UTC)


def may_act(user, followup):
    """May ``user`` complete, reschedule or cancel ``followup``?"""
    if not permissions.can(user, "followups.work", followup):
        return False
    return permissions.can(user, "followups.manage") or followup.assignee_id == user.id


def load_task(followup_id, user):
    """The follow-up ``user`` may act on; NotFound for hidden, missing or someone else's."""
    followup = permissions.load_visible(db.session, FollowUp, followup_id, user, "followups.work")
    if not may_act(user, followup):
        raise NotFound("not found")
    return followup


def _clean_text(value, field, required):
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationError({field: _l("is required")})
        return None
    if len(value) > TEXT_MAX:
        raise ValidationError({field: _l("is too long (at most %(num)d characters)", num=TEXT_MAX)})
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in "\n\r\t" for ch in value):
        raise ValidationError({field: _l("contains control or invisible formatting characters")})
    return value


def _check_day(day, field="due", today=None):
    today = today or utcnow().date()
    if not isinstance(day, date):
        raise ValidationError({field: _l("choose a day")})
    if not today - timedelta(days=MAX_DAYS_AHEAD) <= day <= today + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationError({field: _l("choose a day within %(num)d days of today", num=MAX_DAYS_AHEAD)})
    return day


def _user(user_id):
    try:
        return db.session.get(User, uuid.UUID(str(user_id)))
    except (TypeError, ValueError, AttributeError):
        return None


def assignable(assignee, contact, path):
    """Why ``assignee`` cannot take a follow-up on ``contact``/``path`` (None when they can)."""
    if assignee is None or not permissions.is_actor(assignee) or not permissions.can(assignee, "followups.work"):
        return _l("choose an active staff member")
    if path in RESTRICTED_PATHS and not assignee.restricted_clearance:
        return _l("this person has no clearance for the path")
    if not permissions.visible(assignee, contact):
        return _l("this person may not see the contact (assign the contact to them first)")
    return None


def _require_open(followup):
    if followup.status != "open":
        raise ServiceError(_l("this follow-up is already closed"))


def create(contact_id, kind, due_day, user, assignee_id=None, path=None):
    """A follow-up created by hand on a contact ``user`` may work on."""
    if not permissions.can(user, "followups.work"):
        raise ServiceError(_l("you may not create follow-ups"))
    contact = permissions.load_visible(db.session, Contact, contact_id, user)
    errors = {}
    if kind not in FOLLOWUP_KINDS:
        errors["kind"] = _l("unknown kind")
    visible_paths = {choice.path for choice in permissions.visible_paths(user, contact)}
    path = path or None
    if path is not None and path not in visible_paths:
        errors["path"] = _l("choose one of the contact's paths")
    if assignee_id in (None, ""):
        assignee = user
    elif not permissions.can(user, "followups.manage") and str(assignee_id) != str(user.id):
        assignee, errors["assignee"] = None, _l("you can only assign follow-ups to yourself")
    else:
        assignee = _user(assignee_id)
    if "assignee" not in errors and (problem := assignable(assignee, contact, path)):
        errors["assignee"] = problem
    try:
        _check_day(due_day)
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    followup = FollowUp(contact_id=contact.id, path=path, kind=kind, due_at=due_on(due_day),
                        assignee_id=assignee.id, status="open", created_by_id=user.id)
    db.session.add(followup)
    db.session.flush()
    audit.record("followup.create", "contact", contact.id, followup=str(followup.id), kind=kind,
                 path=path, assignee=str(assignee.id))
    followup_mail.schedule_reminder(followup)
    return followup


def complete(followup_id, outcome, user):
    """Close an open follow-up as done, with an outcome (encrypted)."""
    followup = load_task(followup_id, user)
    _require_open(followup)
    text = _clean_text(outcome, "outcome", required=True)
    followup.status, followup.outcome, followup.completed_at = "done", text, utcnow()
    db.session.flush()
    audit.record("followup.complete", "contact", followup.contact_id, followup=str(followup.id),
                 path=followup.path)
    return followup


def reschedule(followup_id, due_day, user):
    """Move an open follow-up to another day."""
    followup = load_task(followup_id, user)
    _require_open(followup)
    _check_day(due_day)
    before = followup.due_at
    followup.due_at = due_on(due_day)
    if followup.due_at > utcnow():
        followup.reminded_at = None  # it is no longer overdue
    db.session.flush()
    audit.record("followup.reschedule", "contact", followup.contact_id, followup=str(followup.id),
                 path=followup.path, due_from=before.date().isoformat() if before else None,
                 due_to=due_day.isoformat())
    followup_mail.schedule_reminder(followup)
    return followup


def reassign(followup_id, assignee_id, user):
    """Give an open follow-up to someone else (coordinators)."""
    if not permissions.can(user, "followups.manage"):
        load_task(followup_id, user)  # 404 for what they may not see, 403-like message otherwise
        raise ServiceError(_l("only coordinators reassign follow-ups"))
    followup = load_task(followup_id, user)
    _require_open(followup)
    assignee = _user(assignee_id)
    problem = assignable(assignee, followup.contact, followup.path)
    if problem:
        raise ValidationError({"assignee": problem})
    before = followup.assignee_id
    followup.assignee_id, followup.reminded_at = assignee.id, None
    db.session.flush()
    audit.record("followup.reassign", "contact", followup.contact_id, followup=str(followup.id),
                 path=followup.path, assignee_from=str(before) if before else None, assignee_to=str(assignee.id))
    return followup


def cancel(followup_id, reason, user):
    """Cancel an open follow-up, saying why (encrypted)."""
    followup = load_task(followup_id, user)
    _require_open(followup)
    text = _clean_text(reason, "reason", required=True)
    followup.status, followup.cancel_reason, followup.completed_at = "cancelled", text, utcnow()
    db.session.flush()
    audit.record("followup.cancel", "contact", followup.contact_id, followup=str(followup.id), path=followup.path)
    return followup


def reassign_open_for_contact(contact_id, assignee_id, previous_assignee_id=None):
    """Hand a contact's open follow-ups to its new assignee (staff see only their contacts' work).

    Moves the unassigned ones and those of the previous assignee; work a rule gave
    to someone else (a cleared coordinator's vetting interview) stays. Restricted
    ones stay unless the new assignee is cleared. Returns how many moved; flushes.
    """
    assignee = _user(assignee_id)
    if assignee is None:
        return 0
    owner = FollowUp.assignee_id.is_(None)
    if previous_assignee_id is not None:
        owner = owner | (FollowUp.assignee_id == previous_assignee_id)
    stmt = (update(FollowUp).where(FollowUp.contact_id == contact_id, FollowUp.status == "open", owner,
                                   FollowUp.assignee_id.is_distinct_from(assignee.id))
            .values(assignee_id=assignee.id, reminded_at=None))
    if not assignee.restricted_clearance:
        stmt = stmt.where(FollowUp.path.is_(None) | FollowUp.path.not_in(RESTRICTED_PATHS))
    moved = db.session.execute(stmt.execution_options(synchronize_session="fetch")).rowcount
    if moved:
        audit.record("followup.follow_contact", "contact", contact_id, assignee=str(assignee.id), count=moved)
    return moved


def contact_followups(contact, user):
    """(follow-up, may act) for the contact page, open first then newest."""
    rows = db.session.scalars(permissions.visible_followups(
        select(FollowUp).where(FollowUp.contact_id == contact.id)
        .order_by((FollowUp.status != "open"), FollowUp.due_at), user))
    return [(followup, may_act(user, followup)) for followup in rows]
