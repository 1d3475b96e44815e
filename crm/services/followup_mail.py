"""Mail to staff about their follow-ups: overdue reminders, daily digests, weekly summaries.

Staff mail carries counts and one link into the app, never a person's name,
path or any detail: a mailbox is easier to read over a shoulder than the app.
Each message has an idempotency key (``reminder:<follow-up id>``,
``digest:<user id>:<day>``, ``summary:<user id>:<ISO week>``), so a job run twice,
or the reconciler running beside it, queues it once. Also the retention purge of
closed follow-ups' outcomes and cancel reasons.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select, update

from ..extensions import db
from ..models import Contact, FollowUp, Outbox, User
from ..models.base import utcnow
from ..models.enums import RESTRICTED_PATHS
from ..security import audit, permissions

QUEUE_PATH = "/followups/"
TEAM_PATH = "/followups/team"
REMINDER_BATCH = 5000


def _link(path):
    return current_app.config["STAFF_BASE_URL"].rstrip("/") + path


def _locale():
    from ..i18n import DEFAULT_LOCALE

    return DEFAULT_LOCALE


def _queue_mail(**kwargs):
    from . import mail

    return mail.queue_mail(locale=_locale(), exempt="staff_account", **kwargs)


def _day_start(day):
    return datetime.combine(day, time.min, tzinfo=UTC)


def _mailable(user):
    return user is not None and permissions.is_actor(user) and bool(user.email)


def overdue_count(user, now):
    """Open follow-ups assigned to ``user``, due before ``now``, that ``user`` may see."""
    stmt = select(func.count()).select_from(FollowUp).where(
        FollowUp.assignee_id == user.id, FollowUp.status == "open", FollowUp.due_at < now)
    return db.session.scalar(permissions.visible_followups(stmt, user))


def send_overdue_reminders(now=None, assignee_id=None):
    """One mail per assignee for the follow-ups that became overdue since the last run.

    ``reminded_at`` is set in the same transaction as the Outbox row, so the next
    run skips them; the key (the earliest of them) stops a twin run from queuing twice.
    """
    now = now or utcnow()
    stmt = select(FollowUp.id, FollowUp.assignee_id).where(
        FollowUp.status == "open", FollowUp.due_at < now, FollowUp.reminded_at.is_(None),
        FollowUp.assignee_id.is_not(None))
    if assignee_id is not None:
        stmt = stmt.where(FollowUp.assignee_id == assignee_id)
    rows = db.session.execute(stmt.order_by(FollowUp.due_at, FollowUp.id).limit(REMINDER_BATCH)).all()
    by_user = defaultdict(list)
    for followup_id, assignee_id in rows:
        by_user[assignee_id].append(followup_id)
    result = {"followups": len(rows), "queued": 0, "no_address": 0}
    for user_id, ids in by_user.items():
        db.session.execute(update(FollowUp).where(FollowUp.id.in_(ids)).values(reminded_at=now)
                           .execution_options(synchronize_session=False))
        user = db.session.get(User, user_id)
        count = overdue_count(user, now) if _mailable(user) else 0
        if not count:
            result["no_address"] += 1
            continue
        # Each follow-up's key is used once: one that was reminded before, then moved
        # and overdue again, leaves the key to the next of the batch.
        keys = [f"reminder:{followup_id}" for followup_id in ids]
        used = set(db.session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(keys))))
        key = next((k for k in keys if k not in used), None)
        if key is None:
            continue
        queued = _queue_mail(key=key, kind="followup_reminder", to=user.email,
                             template="staff/overdue_reminder",
                             context={"count": count, "new": len(ids), "url": _link(QUEUE_PATH)})
        result["queued"] += queued is not None
    return result


def remind_when_due(followup_id):
    """The scheduled one-off: remind the assignee of ``followup_id`` if it is open and overdue now."""
    import uuid

    followup = db.session.get(FollowUp, uuid.UUID(str(followup_id)))
    if followup is None:
        return {"followup": None}
    if followup.status != "open" or followup.assignee_id is None or followup.reminded_at is not None:
        return {"followup": str(followup.id), "queued": 0}
    return send_overdue_reminders(assignee_id=followup.assignee_id)


def schedule_reminder(followup):
    """Queue ``remind_when_due`` for just after ``followup`` falls due (after the commit)."""
    from .. import jobs

    if followup.due_at is None:
        return None
    delay = max(followup.due_at - utcnow(), timedelta(0)) + timedelta(minutes=1)
    stamp = int(followup.due_at.timestamp())
    return jobs.enqueue_in(delay, "workers.jobs.remind_followup", followup.id, queue="mail",
                           job_id=f"followup-remind-{followup.id}-{stamp}")


@dataclass
class DigestCounts:
    overdue: int = 0
    today: int = 0
    week: int = 0

    @property
    def total(self):
        return self.overdue + self.today + self.week


def digest_counts(day):
    """{user id: DigestCounts} of every assignee's open follow-ups, as each may see them.

    One grouped query for everyone: a restricted follow-up counts only for a
    cleared assignee, and one on a contact assigned to someone else only for
    those who see every contact (staff see their own contacts' work only).
    """
    start = _day_start(day)
    tomorrow, week_end = start + timedelta(days=1), start + timedelta(days=7)
    # A restricted path, or a clearance-only contact: counted for a cleared assignee only.
    restricted = or_(func.coalesce(FollowUp.path, "").in_(RESTRICTED_PATHS), Contact.clearance_only)
    own_contact = Contact.assignee_id == FollowUp.assignee_id
    rows = db.session.execute(
        select(FollowUp.assignee_id, restricted.label("restricted"), own_contact.label("own"),
               func.sum(case((FollowUp.due_at < start, 1), else_=0)),
               func.sum(case((and_(FollowUp.due_at >= start, FollowUp.due_at < tomorrow), 1), else_=0)),
               func.sum(case((and_(FollowUp.due_at >= tomorrow, FollowUp.due_at < week_end), 1), else_=0)))
        .join(Contact, Contact.id == FollowUp.contact_id)
        .where(FollowUp.status == "open", FollowUp.assignee_id.is_not(None), FollowUp.due_at < week_end)
        .group_by(FollowUp.assignee_id, restricted, own_contact)).all()
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({r[0] for r in rows})))}
    counts = defaultdict(DigestCounts)
    for user_id, is_restricted, own, overdue, today, week in rows:
        user = users.get(user_id)
        if user is None or not permissions.is_actor(user):
            continue
        if is_restricted and not user.restricted_clearance:
            continue
        if not own and not permissions.can(user, "contacts.view_all"):
            continue
        entry = counts[user_id]
        entry.overdue += int(overdue or 0)
        entry.today += int(today or 0)
        entry.week += int(week or 0)
    return counts


def send_daily_digests(day=None):
    """Each staff member with work due this week gets the counts of their queue for ``day``."""
    day = day or utcnow().date()
    counts = digest_counts(day)
    users = db.session.scalars(select(User).where(User.id.in_(list(counts)), User.active.is_(True)))
    result = {"day": day.isoformat(), "users": len(counts), "queued": 0, "no_address": 0}
    for user in users:
        entry = counts[user.id]
        if not entry.total:
            continue
        if not _mailable(user):
            result["no_address"] += 1
            continue
        queued = _queue_mail(key=f"digest:{user.id}:{day.isoformat()}", kind="followup_digest", to=user.email,
                             template="staff/daily_digest",
                             context={"overdue": entry.overdue, "today": entry.today, "week": entry.week,
                                      "day": day.isoformat(), "url": _link(QUEUE_PATH)})
        result["queued"] += queued is not None
    return result


def team_summary(user, now):
    """Team figures for the weekly summary, as ``user`` may see them."""
    week_ago = now - timedelta(days=7)

    def count(*where):
        stmt = select(func.count()).select_from(FollowUp).where(*where)
        return db.session.scalar(permissions.visible_followups(stmt, user))

    return {
        "open": count(FollowUp.status == "open"),
        "overdue": count(FollowUp.status == "open", FollowUp.due_at < now),
        "unassigned": count(FollowUp.status == "open", FollowUp.assignee_id.is_(None)),
        "done": count(FollowUp.status == "done", FollowUp.completed_at >= week_ago),
        "created": count(FollowUp.created_at >= week_ago),
    }


def send_weekly_summaries(now=None):
    """Coordinators (and admins) get the team's figures of the week."""
    now = now or utcnow()
    year, week, _ = now.isocalendar()
    result = {"week": f"{year}-W{week:02d}", "queued": 0, "no_address": 0}
    for user in db.session.scalars(select(User).where(User.active.is_(True), User.role.in_(("coordinator", "admin")))):
        if not _mailable(user):
            result["no_address"] += 1
            continue
        figures = team_summary(user, now)
        queued = _queue_mail(key=f"summary:{user.id}:{year}-W{week:02d}", kind="followup_summary", to=user.email,
                             template="staff/weekly_summary", context={**figures, "url": _link(TEAM_PATH)})
        result["queued"] += queued is not None
    return result


def purge_closed_outcomes(older_than_days, now=None):
    """Blank outcomes and cancel reasons of follow-ups closed more than ``older_than_days`` ago.

    The task itself (kind, dates, who) stays for the team's history; the free
    text about a person goes. Returns how many follow-ups were purged.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=older_than_days)
    purged = db.session.execute(
        update(FollowUp).where(FollowUp.status.in_(("done", "cancelled")), FollowUp.completed_at < cutoff,
                               FollowUp.purged_at.is_(None),
                               or_(FollowUp.outcome_ct.is_not(None), FollowUp.cancel_reason_ct.is_not(None)))
        .values(outcome_ct=None, cancel_reason_ct=None, purged_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if purged:
        audit.record("followup.purge", "follow_up", None, count=purged, older_than_days=older_than_days)
    return purged


def set_mail_address(user, address):
    """Set (or, empty, clear) where ``user``'s reminders and digests go; audited without the address."""
    from ..security import normalize
    from .contacts import ValidationError

    address = (address or "").strip()
    if address and (len(address) > 254 or normalize.normalize_email(address) is None):
        raise ValidationError({"email": _l("is not a valid email address")})
    user.email = address or None
    db.session.flush()
    audit.record("user.mail_address", "user", user.id, set=bool(address))
    return user
