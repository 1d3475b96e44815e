"""The emergency lockdown: two admins start it, one admin lifts it.

While a lockdown is in force (a ``Lockdown`` row without ``lifted_at``; the
database is authoritative):

- every session ended when it started, and only admins may sign in or keep a session;
- exports and imports are refused (new requests, approvals, downloads), and
  their jobs leave the work queued: ``lift`` queues it again;
- admins see a banner.

Requesting and approving go through the two-person approvals core
(``crm.services.approvals``, kind ``lockdown``): the approver is never the
requester. Lifting needs one admin: a second approver may be unreachable in
exactly the hour the lockdown should end, and lifting only restores normal
work, which every admin could already do (docs/decisions/0023-access-alerts-and-lockdown.md).

``active()`` is checked on every request (sessions.resume): it is cached in
process memory for LOCKDOWN_CACHE_SECONDS; a change made by this process clears
the cache at once, other processes see it within that bound. Sign-in,
exports and imports read the database directly.
"""
import time

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..errors import ServiceError
from ..extensions import db
from ..models import Export, ImportRun, Lockdown, UserSession
from ..models.base import utcnow
from ..security import audit, permissions
from . import approvals

KIND = "lockdown"
_cache = {"until": 0.0, "value": None}


class LockedDown(ServiceError):
    """Refused because an emergency lockdown is in force (the message says so)."""


def current(session=None):
    """The lockdown in force, or None (from the database)."""
    session = session or db.session
    return session.scalar(select(Lockdown).where(Lockdown.lifted_at.is_(None))
                          .order_by(Lockdown.started_at.desc()).limit(1))


def active():
    """Is a lockdown in force? Cached in this process for LOCKDOWN_CACHE_SECONDS."""
    now = time.monotonic()
    if _cache["value"] is None or now >= _cache["until"]:
        _cache["value"] = db.session.scalar(select(Lockdown.id).where(Lockdown.lifted_at.is_(None)).limit(1)) \
            is not None
        _cache["until"] = now + float(current_app.config["LOCKDOWN_CACHE_SECONDS"])
    return _cache["value"]


def forget_cache():
    _cache["value"] = None


def refuse_if_active(what, error=None):
    """Raise ``LockedDown`` (or ``error``) while a lockdown is in force, audited; ``what`` names the action.

    The raised error carries ``what`` as ``lockdown_refused``: a caller that rolls back
    its work on the error calls ``keep_refusal`` afterwards, so the refusal stays audited.
    """
    if current() is not None:
        _record_refusal(what)
        refusal = (error or LockedDown)(_l("An emergency lockdown is in force: exports and imports are suspended "
                                           "until an admin lifts it."))
        refusal.lockdown_refused = what
        raise refusal


def _record_refusal(what):
    audit.record("lockdown.refused", None, None, refused=what)
    db.session.flush()


def keep_refusal(error):
    """After a rollback of the work ``error`` refused: record its lockdown refusal again (if it
    was one) for the caller's commit. Returns whether it was a lockdown refusal."""
    what = getattr(error, "lockdown_refused", None)
    if what is None:
        return False
    _record_refusal(what)
    return True


def may_sign_in(user):
    """During a lockdown only admins may sign in (read from the database)."""
    return user.role == "admin" or current() is None


def request_lockdown(user, reason):
    """An admin asks for a lockdown; a different admin must approve it."""
    if current() is not None:
        audit.record("approval.request_refused", "approval", None, kind=KIND, reason="in_force")
        db.session.flush()
        raise ServiceError(_l("A lockdown is already in force."))
    return approvals.request(KIND, user, reason)


def _start(item, decider):
    """Apply an approved request: record the lockdown and end every session."""
    if current() is not None:
        raise ServiceError(_l("A lockdown is already in force."))
    lockdown = Lockdown(approval_id=item.id, requested_by_id=item.requested_by_id, approved_by_id=decider.id,
                        started_at=utcnow())
    db.session.add(lockdown)
    db.session.flush()
    ended = db.session.execute(
        update(UserSession).where(UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason="lockdown").execution_options(synchronize_session=False)).rowcount
    lockdown.sessions_ended = ended
    audit.record("lockdown.start", "lockdown", lockdown.id, approval=str(item.id), sessions=ended,
                 requester=str(item.requested_by_id))
    db.session.flush()
    forget_cache()
    return lockdown


def lift(user, reason):
    """One admin lifts the lockdown; paused exports and imports are queued again."""
    if not permissions.can(user, "users.manage"):
        raise ServiceError(_l("You may not do this."))
    message = approvals.validate_reason(reason)
    if message:
        from .contacts import ValidationError

        raise ValidationError({"reason": message})
    lockdown = current()
    if lockdown is None:
        audit.record("lockdown.lift_refused", None, None, reason="not_in_force")
        db.session.flush()
        raise ServiceError(_l("No lockdown is in force."))
    lockdown.lifted_at, lockdown.lifted_by_id = utcnow(), user.id
    lockdown.lift_reason = reason.strip()
    db.session.flush()
    resumed = resume_paused_work()
    audit.record("lockdown.lift", "lockdown", lockdown.id, **resumed)
    db.session.flush()
    forget_cache()
    return lockdown


def resume_paused_work():
    """Queue again the exports and imports whose jobs found the lockdown (after the commit)."""
    from ..jobs import enqueue
    from . import imports

    exports = db.session.scalars(select(Export).where(Export.status == "queued", Export.file_id.is_(None))).all()
    for export in exports:
        enqueue("workers.jobs.build_export", export.id)
    runs = db.session.scalars(select(ImportRun).where(ImportRun.status.in_(("queued", "running")))).all()
    for run in runs:
        imports.start(run)
    return {"exports": len(exports), "imports": len(runs)}


def history(limit=20):
    return list(db.session.scalars(select(Lockdown).order_by(Lockdown.started_at.desc()).limit(limit)))


def _describe(item):
    return _l("Emergency lockdown")


approvals.register_kind(
    KIND,
    can_request=lambda user, params, contact: permissions.can(user, "users.manage") and not params
    and contact is None,
    can_decide=lambda user, item: permissions.can(user, "users.manage"),
    apply=_start,
    describe=_describe,
    view_permission="users.manage",
)
