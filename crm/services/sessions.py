"""Server-side staff sessions: start, advance, resume, end.

The browser's cookie carries a random token; only its SHA-256 digest is stored,
so a copy of the database cannot be replayed as a cookie. Every request resumes
the session from the token (``resume``), which enforces the idle and absolute
timeouts and the account's ``active`` flag. Ending a session row signs that
browser out on its next request. Services only flush.
"""
import hashlib
import secrets
from datetime import UTC, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from ..extensions import db
from ..models import User, UserSession
from ..models.base import utcnow
from ..security import audit


def now():
    """The sessions' clock (tests replace it to step through timeouts without sleeping)."""
    return utcnow()


def aware(moment):
    """SQLite returns naive datetimes: read them as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _limits():
    cfg = current_app.config
    return (timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]),
            timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"]),
            timedelta(minutes=cfg["SIGNIN_PENDING_MINUTES"]))


def start(user, stage):
    """Open a new session for ``user`` at ``stage``; returns (session, raw token)."""
    token = secrets.token_urlsafe(32)
    moment = now()
    row = UserSession(user_id=user.id, token_hash=_digest(token), stage=stage,
                      created_at=moment, last_seen_at=moment)
    db.session.add(row)
    db.session.flush()
    return row, token


def advance(row, stage):
    """Move a session to ``stage`` under a fresh token (no fixation); returns the new token."""
    token = secrets.token_urlsafe(32)
    row.token_hash = _digest(token)
    row.stage = stage
    row.last_seen_at = now()
    if stage == "full":
        row.authenticated_at = row.last_seen_at
    db.session.flush()
    return token


def find(token, stages=None):
    """The live session for ``token`` (None if unknown, ended or timed out)."""
    if not token or not isinstance(token, str) or len(token) > 128:
        return None
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _digest(token)))
    if row is None or row.ended_at is not None:
        return None
    if stages is not None and row.stage not in stages:
        return None
    reason = _expiry_reason(row)
    if reason:
        end(row, reason)
        return None
    return row


def _expiry_reason(row):
    idle, absolute, pending = _limits()
    moment = now()
    if moment - aware(row.created_at) >= absolute:
        return "absolute"
    if row.stage != "full" and moment - aware(row.created_at) >= pending:
        return "idle"
    if moment - aware(row.last_seen_at) >= idle:
        return "idle"
    return None


def resume(user_id, token):
    """The signed-in User for this request, or None; called by the Flask-Login loader."""
    row = find(token, stages=("full",))
    if row is None or str(row.user_id) != str(user_id):
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        end(row, "disabled")
        return None
    if user.suspended_at is not None:
        end(row, "suspended")
        return None
    if user.role != "admin":
        from . import lockdown

        if lockdown.active():
            end(row, "lockdown")
            return None
    moment = now()
    if (moment - aware(row.last_seen_at)).total_seconds() >= current_app.config["SESSION_TOUCH_SECONDS"]:
        row.last_seen_at = moment
    return user


def end(row, reason):
    """End one session and record it."""
    if row.ended_at is None:
        row.ended_at = now()
        row.end_reason = reason
        audit.record("auth.session.end", "user", row.user_id, reason=reason, count=1)
        db.session.flush()


def end_sessions(user_id, actor_id=None, reason="revoked", keep=None):
    """End every live session of a user (optionally all but ``keep``); returns how many.

    ``actor_id`` is the admin ending them (defaults to whoever the audit context holds).
    """
    query = (update(UserSession)
             .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
             .values(ended_at=now(), end_reason=reason)
             .execution_options(synchronize_session="fetch"))
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    count = db.session.execute(query).rowcount
    details = {"reason": reason, "count": count}
    if actor_id is not None:
        details["by"] = str(actor_id)
    audit.record("auth.session.end", "user", user_id, **details)
    db.session.flush()
    return count


def live_sessions(user_id):
    """The user's sessions that have not ended (for an account page or the admin)."""
    return db.session.scalars(
        select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .order_by(UserSession.created_at.desc())
    ).all()


def purge(older_than_days=30):
    """Delete session rows that ended, or were last seen, more than N days ago.

    They hold no personal data, but nothing needs them once the audit log has
    recorded the sign-ins and sign-outs. Returns how many rows went.
    """
    cutoff = now() - timedelta(days=older_than_days)
    result = db.session.execute(delete(UserSession).where(
        or_(UserSession.ended_at < cutoff, UserSession.last_seen_at < cutoff)))
    db.session.flush()
    return result.rowcount
