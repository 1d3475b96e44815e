"""The two-person rule: one user requests, a different user approves (or rejects).

A *kind* is registered once, at import of the module that owns the rule, with
``register_kind``:

    register_kind(
        "lockdown",
        can_request=lambda user, params, contact: permissions.can(user, "users.manage"),
        can_decide=lambda user, request: permissions.can(user, "users.manage"),
        apply=lambda request, decider: start_lockdown(decider),   # re-validate, then act
        describe=lambda request: _l("Emergency lockdown"),
        view_permission="users.manage",   # who sees it in the queue (and its count)
        validate=lambda params, contact: None,   # or a message: why it cannot be done now
    )

and is then requested, approved, rejected or cancelled through this module only:
``request(kind, user, reason, contact=None, **params)``, ``approve(id, user, reason)``,
``reject(id, user, reason)``, ``cancel(id, user, reason=None)``.

The rules hold here, for every kind and every caller (views, CLI, jobs):

- ``params`` are JSON values that name no person (a path key, a stage); free text
  goes in the reasons, which are required and encrypted.
- One pending request per (kind, contact, params): a second one is refused.
- The decider is never the requester, and must pass the kind's ``can_decide``.
- A decision is one ``UPDATE ... WHERE status = 'pending'``: of two approvers racing,
  exactly one applies; the other is told it was already decided.
- ``validate(params, contact)`` (optional) answers why the thing cannot be done
  now (a message) or None. It runs when the request is made (refused with that
  message) and again when it is approved, because things may have changed since.
- ``apply(request, decider)`` runs inside a savepoint after the decision's update;
  raising ``ServiceError`` (or ``validate`` answering a message) refuses the
  approval with a clear message; the request then stays pending (to be rejected
  or cancelled) and nothing of the apply is kept.
- ``restricted`` requests (a bool, or a callable of (params, contact)) are invisible
  without the restricted-path clearance, in the queue and in its count; a request
  about a contact is visible only to users who may see that contact.
- Everything is audited with ids, kind and params, never the reasons.

Services flush; the caller commits (also after a refusal, so its audit event stays).
"""
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Contact
from ..models.approval import ApprovalRequest
from ..models.base import utcnow
from ..security import audit, permissions

REASON_MAX = 1000


class ApprovalRefused(ServiceError):
    """A request or decision that the rules refuse (the refusal is audited)."""


@dataclass(frozen=True)
class Kind:
    name: str
    can_request: Callable
    can_decide: Callable
    apply: Callable
    describe: Callable
    view_permission: str
    restricted: object = False
    validate: Callable | None = None

    def is_restricted(self, params, contact):
        return bool(self.restricted(params, contact) if callable(self.restricted) else self.restricted)


_KINDS: dict[str, Kind] = {}


def register_kind(name, *, can_request, can_decide, apply, describe,
                  view_permission="contacts.assign", restricted=False, validate=None):
    """Register (or re-register, for the same module reloaded) an approval kind."""
    if view_permission not in permissions.PERMISSIONS:
        raise ValueError(f"unknown permission {view_permission!r}")
    _KINDS[name] = Kind(name, can_request, can_decide, apply, describe, view_permission, restricted, validate)
    return _KINDS[name]


def kind(name):
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"unknown approval kind {name!r}") from None


def kinds():
    return dict(_KINDS)


def validate_reason(reason):
    """An error message for a bad reason, or None."""
    if not isinstance(reason, str) or not reason.strip():
        return _l("Give a reason.")
    if len(reason) > REASON_MAX:
        return _l("is too long (at most %(num)d characters)", num=REASON_MAX)
    if not reason.replace("\n", "").replace("\r", "").isprintable():
        return _l("contains control or invisible formatting characters")
    return None


def _check_reason(reason, field="reason"):
    from .contacts import ValidationError

    message = validate_reason(reason)
    if message:
        raise ValidationError({field: message})
    return reason.strip()


def subject_key(kind_name, contact_id, params):
    canonical = json.dumps([kind_name, str(contact_id) if contact_id else None, params],
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _refuse(action, request_id, kind_name, why, message, **details):
    audit.record(action, "approval", request_id, kind=kind_name, reason=why, **details)
    db.session.flush()
    raise ApprovalRefused(message)


def request(kind_name, user, reason, contact=None, **params):
    """Ask for ``kind_name`` on ``contact`` with ``params``; return the pending request."""
    k = kind(kind_name)
    contact_id = contact.id if contact is not None else None
    where = {"contact": str(contact_id) if contact_id else None, "params": params}
    if contact is not None and not permissions.visible(user, contact):
        raise NotFound("not found")
    if not permissions.is_actor(user) or not k.can_request(user, params, contact):
        _refuse("approval.request_refused", None, kind_name, "not_allowed",
                _l("You may not request this."), **where)
    reason = _check_reason(reason)
    problem = k.validate(params, contact) if k.validate else None
    if problem:
        _refuse("approval.request_refused", None, kind_name, "invalid", problem, **where)
    key = subject_key(kind_name, contact_id, params)
    if db.session.scalar(select(ApprovalRequest.id).where(
            ApprovalRequest.subject_key == key, ApprovalRequest.status == "pending")):
        _refuse("approval.request_refused", None, kind_name, "duplicate",
                _l("The same request is already waiting for approval."), **where)
    item = ApprovalRequest(kind=kind_name, contact_id=contact_id, params=params, subject_key=key,
                           restricted=k.is_restricted(params, contact), requested_by_id=user.id,
                           requested_at=utcnow(), status="pending")
    item.reason = reason
    try:
        with db.session.begin_nested():
            db.session.add(item)
    except IntegrityError:
        _refuse("approval.request_refused", None, kind_name, "duplicate",
                _l("The same request is already waiting for approval."), **where)
    audit.record("approval.request", "approval", item.id, kind=kind_name, **where)
    db.session.flush()
    return item


def visible_clause(user):
    """A WHERE clause on ApprovalRequest keeping what ``user`` may see (queue and counts)."""
    if not permissions.is_actor(user):
        return ApprovalRequest.id.is_(None)
    seen_kinds = [name for name, k in _KINDS.items() if permissions.can(user, k.view_permission)]
    clauses = [or_(ApprovalRequest.kind.in_(seen_kinds), ApprovalRequest.requested_by_id == user.id),
               or_(ApprovalRequest.contact_id.is_(None),
                   ApprovalRequest.contact_id.in_(select(Contact.id).where(permissions.contact_clause(user))))]
    if not permissions.has_clearance(user):
        clauses.append(ApprovalRequest.restricted.is_(False))
    return clauses


def pending(user, contact=None):
    """The pending requests ``user`` may see, oldest first (of one contact, if given)."""
    stmt = select(ApprovalRequest).where(ApprovalRequest.status == "pending", *visible_clause(user))
    if contact is not None:
        stmt = stmt.where(ApprovalRequest.contact_id == contact.id)
    return list(db.session.scalars(stmt.order_by(ApprovalRequest.requested_at, ApprovalRequest.id)))


def pending_count(user):
    """How many pending requests ``user`` sees, their own included (the navigation badge)."""
    return db.session.scalar(select(func.count()).select_from(ApprovalRequest).where(
        ApprovalRequest.status == "pending", *visible_clause(user))) or 0


def load(request_id, user):
    """A request ``user`` may see; else NotFound (a malformed, missing or hidden id alike)."""
    try:
        key = request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("not found") from None
    found = db.session.scalar(select(ApprovalRequest).where(ApprovalRequest.id == key, *visible_clause(user)))
    if found is None or found.kind not in _KINDS:
        raise NotFound("not found")
    return found


def can_decide(user, item):
    """May ``user`` approve or reject ``item`` (never their own request)?"""
    return (item.status == "pending" and item.requested_by_id != user.id
            and bool(kind(item.kind).can_decide(user, item)))


def _decide(request_id, user, reason, status):
    item = load(request_id, user)
    action = "approval.approve" if status == "approved" else "approval.reject"
    details = {"contact": str(item.contact_id) if item.contact_id else None, "params": item.params}
    if item.requested_by_id == user.id:
        _refuse(action + "_refused", item.id, item.kind, "self",
                _l("A different person must decide on a request: you made this one."), **details)
    if item.status != "pending":
        _refuse(action + "_refused", item.id, item.kind, "decided",
                _l("This request has already been decided or cancelled."), **details)
    if not kind(item.kind).can_decide(user, item):
        _refuse(action + "_refused", item.id, item.kind, "not_allowed",
                _l("You may not decide on this request."), **details)
    reason = _check_reason(reason)
    try:
        with db.session.begin_nested():
            _mark(item, user, status, reason)
            if status == "approved":
                _apply(item, user)
                db.session.flush()
    except _AlreadyDecided:
        db.session.expire(item)
        _refuse(action + "_refused", item.id, item.kind, "decided",
                _l("This request has already been decided or cancelled."), **details)
    except ServiceError as exc:
        db.session.expire(item)
        audit.record(action + "_refused", "approval", item.id, kind=item.kind, reason="stale", **details)
        db.session.flush()
        raise ApprovalRefused(_l("It cannot be applied as asked: %(why)s It stays pending: reject it, "
                                 "or ask the requester to cancel it.", why=str(exc))) from exc
    audit.record(action, "approval", item.id, kind=item.kind,
                 requester=str(item.requested_by_id) if item.requested_by_id else None, **details)
    db.session.flush()
    return item


def _apply(item, decider):
    k = kind(item.kind)
    if k.validate:
        contact = db.session.get(Contact, item.contact_id) if item.contact_id else None
        problem = k.validate(item.params, contact)
        if problem:
            raise ServiceError(problem)
    k.apply(item, decider)


class _AlreadyDecided(Exception):
    pass


def _mark(item, user, status, reason):
    """The atomic step: only a pending row changes, so a racing second decision finds none."""
    now = utcnow()
    done = db.session.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == item.id, ApprovalRequest.status == "pending")
        .values(status=status, decided_by_id=user.id, decided_at=now)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise _AlreadyDecided()
    db.session.expire(item, ["status", "decided_by_id", "decided_at"])
    if reason is not None:
        item.decision_reason = reason
    db.session.flush()


def approve(request_id, user, reason):
    """Approve and apply a pending request; ``ApprovalRefused`` (audited) if the rules say no."""
    return _decide(request_id, user, reason, "approved")


def reject(request_id, user, reason):
    """Reject a pending request (by someone other than the requester who may decide it)."""
    return _decide(request_id, user, reason, "rejected")


def cancel(request_id, user, reason=None):
    """The requester withdraws their own pending request."""
    item = load(request_id, user)
    details = {"contact": str(item.contact_id) if item.contact_id else None, "params": item.params}
    if item.requested_by_id != user.id:
        _refuse("approval.cancel_refused", item.id, item.kind, "not_requester",
                _l("Only the person who asked can cancel a request."), **details)
    if reason is not None and reason.strip():
        reason = _check_reason(reason)
    else:
        reason = None
    try:
        _mark(item, user, "cancelled", reason)
    except _AlreadyDecided:
        db.session.expire(item)
        _refuse("approval.cancel_refused", item.id, item.kind, "decided",
                _l("This request has already been decided or cancelled."), **details)
    audit.record("approval.cancel", "approval", item.id, kind=item.kind, **details)
    db.session.flush()
    return item


def describe(item):
    """What ``item`` asks for, in words (translated)."""
    return kind(item.kind).describe(item)
