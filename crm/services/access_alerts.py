"""Access alerts: thresholds, raising an alert, suspending an account, review and reinstatement.

The detector (``access_watch``) counts; this module decides what a count means.
An alert holds a user id, a kind and non-personal evidence (counts, window,
thresholds). Admins learn of a burst of alerts by one neutral mail ("N new
access alerts", a link), at most once per ACCESS_ALERT_MAIL_QUIET_MINUTES.
Suspension ends every session of the account and refuses its sign-in until an
admin reinstates it; an admin is never suspended when no other admin could
then sign in (docs/decisions/0023-access-alerts-and-lockdown.md).
Services flush; the caller commits.
"""
import time
from dataclasses import asdict, dataclass, fields

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import AccessAlert, AccessSettings, User
from ..models.base import utcnow
from ..redis_conn import get_redis
from ..security import audit, permissions
from . import sessions
from .contacts import ValidationError

NOTE_MAX = 1000
ALERTS_PATH = "/admin/access/alerts"
MAIL_BURST_KEY = "muster:access:mail-burst"


@dataclass(frozen=True)
class Thresholds:
    """When the detector raises an alert, and when it suspends (0 = never)."""

    reads_window_minutes: int
    reads_alert: int
    reads_suspend: int
    scope_window_minutes: int
    scope_min_opens: int
    scope_alert_percent: int
    scope_suspend_percent: int
    denied_window_minutes: int
    denied_alert: int
    denied_suspend: int


FIELDS = tuple(f.name for f in fields(Thresholds))


def defaults():
    """The thresholds from the configuration (ACCESS_<FIELD> in upper case)."""
    return Thresholds(**{name: int(current_app.config[f"ACCESS_{name.upper()}"]) for name in FIELDS})


def current():
    """The thresholds in force: the admins' row if there is one, else the defaults."""
    row = db.session.get(AccessSettings, 1)
    if row is None:
        return defaults()
    return Thresholds(**{name: getattr(row, name) for name in FIELDS})


_cached = {"until": 0.0, "value": None}
CACHE_SECONDS = 10


def current_cached():
    """``current()`` as the request path reads it: kept CACHE_SECONDS in this process
    (a change made here clears it; other processes apply it within that bound)."""
    now = time.monotonic()
    if _cached["value"] is None or now >= _cached["until"]:
        _cached["value"], _cached["until"] = current(), now + CACHE_SECONDS
    return _cached["value"]


def forget_cache():
    _cached["value"] = None


def _bounded(errors, values, name, low, high):
    value = values.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        errors[name] = _l("Enter a whole number from %(low)d to %(high)d.", low=low, high=high)
        return False
    return True


def validate(values):
    """Field -> message for every value that cannot be stored (empty when all are fine)."""
    errors = {}
    for name in ("reads_window_minutes", "scope_window_minutes", "denied_window_minutes"):
        _bounded(errors, values, name, 1, 1440)
    _bounded(errors, values, "scope_min_opens", 1, 10000)
    for alert, suspend, high in (("reads_alert", "reads_suspend", 100000),
                                 ("denied_alert", "denied_suspend", 100000),
                                 ("scope_alert_percent", "scope_suspend_percent", 100)):
        ok = _bounded(errors, values, alert, 1, high)
        if _bounded(errors, values, suspend, 0, high) and ok and values[suspend] and values[suspend] <= values[alert]:
            errors[suspend] = _l("Must be higher than the alert threshold (or 0: never suspend).")
    return errors


def update(values, actor):
    """Store new thresholds (admins); returns the names that changed. Audited with the numbers."""
    if not permissions.can(actor, "users.manage"):
        raise ServiceError(_l("You may not do this."))
    values = {name: values.get(name) for name in FIELDS}
    errors = validate(values)
    if errors:
        raise ValidationError(errors)
    before = asdict(current())
    row = db.session.get(AccessSettings, 1)
    if row is None:
        row = AccessSettings(id=1, **before)
        db.session.add(row)
    changed = {name: [before[name], values[name]] for name in FIELDS if before[name] != values[name]}
    for name in changed:
        setattr(row, name, values[name])
    if changed:
        row.updated_at, row.updated_by_id = utcnow(), actor.id
        audit.record("access.settings", "access_settings", 1, changed=changed)
    db.session.flush()
    forget_cache()
    return sorted(changed)


# --- alerts and suspension -------------------------------------------------------------

def raise_alert(user, kind, evidence, suspend=False):
    """Record an alert about ``user``; suspend the account when asked (and allowed); tell admins."""
    alert = AccessAlert(user_id=user.id, kind=kind, evidence=evidence, status="open", created_at=utcnow())
    db.session.add(alert)
    db.session.flush()
    if suspend:
        alert.suspended = suspend_account(user, alert)
    audit.record("access.alert", "user", user.id, alert=str(alert.id), kind=kind, evidence=evidence,
                 suspended=alert.suspended)
    notify_admins(alert)
    db.session.flush()
    return alert


def another_admin_can_sign_in(user):
    """Is there an active, unsuspended admin other than ``user``?"""
    return bool(db.session.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.active.is_(True), User.suspended_at.is_(None), User.id != user.id)))


def suspend_account(user, alert=None):
    """End every session of ``user`` and refuse their sign-in until reinstated; True if done.

    The last admin who could sign in is never suspended (an alert only): otherwise a
    noisy detector, or an attacker provoking it, could lock every admin out.
    """
    if user.suspended_at is not None:
        return False
    if user.role == "admin" and not another_admin_can_sign_in(user):
        audit.record("access.suspend_skipped", "user", user.id, reason="last_admin",
                     alert=str(alert.id) if alert else None)
        return False
    user.suspended_at = utcnow()
    ended = sessions.end_sessions(user.id, reason="suspended")
    audit.record("access.suspend", "user", user.id, alert=str(alert.id) if alert else None, sessions=ended)
    db.session.flush()
    return True


def reinstate(user_id, actor):
    """An admin lifts a suspension (never their own); ``actor`` None is the operator's CLI."""
    if actor is not None and not permissions.can(actor, "users.manage"):
        raise ServiceError(_l("You may not do this."))
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if actor is not None and user.id == actor.id:
        audit.record("access.reinstate_refused", "user", user.id, reason="self")
        raise ServiceError(_l("Another admin must reinstate your account."))
    if user.suspended_at is None:
        raise ServiceError(_l("This account is not suspended."))
    user.suspended_at = None
    audit.record("access.reinstate", "user", user.id)
    db.session.flush()
    from .access_watch import forget

    forget(user.id)  # the burst that suspended them must not suspend them again at once
    return user


def alerts(status="open", limit=200):
    """Alerts with the login of their user, newest first."""
    stmt = (select(AccessAlert, User.login).join(User, User.id == AccessAlert.user_id)
            .order_by(AccessAlert.created_at.desc(), AccessAlert.id).limit(limit))
    if status:
        stmt = stmt.where(AccessAlert.status == status)
    return list(db.session.execute(stmt).all())


def open_count():
    """How many alerts wait for a review (the menu's badge)."""
    return db.session.scalar(select(func.count()).select_from(AccessAlert)
                             .where(AccessAlert.status == "open")) or 0


def review(alert_id, actor, note, reinstate_user=False):
    """Mark an alert reviewed with a note (encrypted); optionally reinstate its user."""
    if not permissions.can(actor, "users.manage"):
        raise ServiceError(_l("You may not do this."))
    alert = db.session.get(AccessAlert, alert_id)
    if alert is None:
        raise NotFound("no such alert")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": _l("Say what you found.")})
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": _l("Use at most %(num)d characters.", num=NOTE_MAX)})
    if alert.user_id == actor.id:
        audit.record("access.review_refused", "access_alert", alert.id, reason="self")
        raise ServiceError(_l("Another admin must review an alert about your own account."))
    if alert.status != "open":
        raise ServiceError(_l("This alert has already been reviewed."))
    alert.status, alert.reviewed_by_id, alert.reviewed_at = "reviewed", actor.id, utcnow()
    alert.review_note = note
    audit.record("access.review", "access_alert", alert.id, user=str(alert.user_id), reinstate=bool(reinstate_user))
    db.session.flush()
    user = db.session.get(User, alert.user_id)
    if reinstate_user and user is not None and user.suspended_at is not None:
        reinstate(user.id, actor)
    return alert


def notify_admins(alert):
    """One neutral mail per burst of alerts to every admin with an address (count and link only)."""
    quiet = int(current_app.config["ACCESS_ALERT_MAIL_QUIET_MINUTES"]) * 60
    if not get_redis(current_app).set(MAIL_BURST_KEY, "1", nx=True, ex=max(quiet, 1)):
        return 0  # a mail about this burst went out already
    from .mail import queue_mail

    count = open_count()
    url = current_app.config["STAFF_BASE_URL"].rstrip("/") + ALERTS_PATH
    sent = 0
    admins = db.session.scalars(select(User).where(User.role == "admin", User.active.is_(True))).all()
    for admin in admins:
        if not admin.email or admin.suspended_at is not None:
            continue
        queued = queue_mail(key=f"access-alert:{alert.id}:{admin.id}", kind="access_alert", to=admin.email,
                            template="staff/access_alerts", context={"count": count, "url": url},
                            exempt="staff_account")
        sent += queued is not None
    audit.record("access.notify", "access_alert", alert.id, mails=sent, open=count)
    return sent
