"""The access watch: cheap counters per user in Redis, evaluated after each request.

What it sees (docs/decisions/0023-access-alerts-and-lockdown.md):

- ``reads``: distinct contacts a user opened (every ``contact.view`` audit event) in
  the last ``reads_window_minutes``;
- ``scope``: of the contacts a staff member or coordinator opened in the last
  ``scope_window_minutes``, the share outside their scope (assigned to someone else
  and never met at a meeting they host; unassigned contacts are triage work, in scope);
- ``denied``: answers 403 (a forbidden action) and 404 on a URL naming an object id
  (a contact they may not see, or that does not exist) in the last ``denied_window_minutes``.

Redis holds one sorted set per user and counter, keyed by the user id, with
contact ids or request ids as members (never personal data), trimmed to the
window and expiring with it. An audit event committed by a request is noted by
a flush listener; the counters are updated and compared with the thresholds in
the request's teardown, after the response's own commit. Losing Redis only
forgets recent counts.
"""
import logging
import time

from flask import current_app, g, has_request_context, request
from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Attendance, AuditEvent, Contact, User, meeting_host
from ..redis_conn import get_redis
from ..security.permissions import current_actor
from . import access_alerts

log = logging.getLogger(__name__)
_SEEN = "muster_access_seen"
PREFIX = "muster:access:"
SCOPE_ROLES = ("staff", "coordinator")


def enabled():
    return bool(current_app.config.get("ACCESS_DETECTION", True))


@event.listens_for(Session, "after_flush")
def _note_views(session, flush_context):
    if not has_request_context() or not session.new:
        return
    for obj in session.new:
        if isinstance(obj, AuditEvent) and obj.action == "contact.view" and obj.actor_id is not None:
            session.info.setdefault(_SEEN, []).append((obj.actor_id, obj.target_id))


@event.listens_for(Session, "after_commit")
def _keep_views(session):
    seen = session.info.pop(_SEEN, None)
    if seen and has_request_context():
        g.setdefault("access_opened", []).extend(seen)


@event.listens_for(Session, "after_rollback")
def _drop_views(session):
    session.info.pop(_SEEN, None)


def note_response(response):
    """After-request hook (before the commit): who acts, and whether this was a refusal
    (403, or 404 on a URL naming an object)."""
    if request.endpoint in (None, "static"):
        return response
    actor = current_actor()
    if actor is None:
        return response
    g.access_actor = (actor.id, actor.role)
    if response.status_code == 403 or (
            response.status_code == 404 and any(k.endswith("_id") for k in (request.view_args or {}))):
        g.access_denied = g.get("request_id") or str(time.time_ns())
    return response


def evaluate_request(exc=None):
    """Teardown hook: update the counters of this request's user and act on the thresholds."""
    opened = g.pop("access_opened", None)
    denied = g.pop("access_denied", None)
    actor = g.pop("access_actor", None)
    if not (opened or denied) or actor is None or not enabled():
        return
    try:
        user_id, role = actor
        contact_ids = sorted({target for who, target in opened or () if who == user_id and target})
        if observe(user_id, role, contact_ids, denied):
            db.session.commit()
    except Exception as error:  # noqa: BLE001 - the watch must never break a request
        db.session.rollback()
        log.error("access watch failed (%s)", error.__class__.__name__)


def _key(user_id, name):
    return f"{PREFIX}{user_id}:{name}"


def _count(pipe, key, members, now, window):
    """Queue: add ``members`` now, drop what left the window, count, expire; returns the ZCARD's place."""
    if members:
        pipe.zadd(key, {m: now for m in members})
    pipe.zremrangebyscore(key, "-inf", now - window)
    pipe.zcard(key)
    pipe.expire(key, window)
    return len(pipe) - 2


def in_scope(user_id, contact_ids):
    """The subset of ``contact_ids`` within the user's scope (assigned, unassigned, or met at their meeting)."""
    if not contact_ids:
        return set()
    user_id = _uuid(user_id)
    hosted = select(Attendance.contact_id).join(meeting_host, meeting_host.c.meeting_id == Attendance.meeting_id) \
        .where(meeting_host.c.user_id == user_id)
    rows = db.session.scalars(select(Contact.id).where(
        Contact.id.in_([_uuid(c) for c in contact_ids]),
        or_(Contact.assignee_id.is_(None), Contact.assignee_id == user_id, Contact.id.in_(hosted))))
    return {str(c) for c in rows}


def _uuid(value):
    import uuid

    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def observe(user_id, role, contact_ids=(), denied_id=None, now=None):
    """Count what ``user_id`` (of ``role``) just did; raise alerts (or suspend) at the thresholds.

    Returns the alerts raised (the caller commits them). Without an alert it costs one
    pipelined Redis round trip, plus the scope query when contacts were opened.
    """
    t = access_alerts.current_cached()
    now = time.time() if now is None else now
    pipe = get_redis(current_app).pipeline(transaction=False)
    plan = []
    if contact_ids:
        plan.append(("reads", _count(pipe, _key(user_id, "reads"), contact_ids, now, t.reads_window_minutes * 60)))
        if role in SCOPE_ROLES:
            outside = set(contact_ids) - in_scope(user_id, contact_ids)
            window = t.scope_window_minutes * 60
            plan.append(("scope-all", _count(pipe, _key(user_id, "scope-all"), contact_ids, now, window)))
            plan.append(("scope-out", _count(pipe, _key(user_id, "scope-out"), sorted(outside), now, window)))
    if denied_id:
        plan.append(("denied", _count(pipe, _key(user_id, "denied"), [denied_id], now,
                                      t.denied_window_minutes * 60)))
    results = pipe.execute()
    return _judge(user_id, t, {name: results[place] for name, place in plan})


def _judge(user_id, t, counts):
    raised = []
    user = _Lazy(user_id)
    if "reads" in counts:
        raised += _check(user, "reads", counts["reads"], t.reads_alert, t.reads_suspend,
                         {"contacts": counts["reads"], "window_minutes": t.reads_window_minutes})
    if "scope-all" in counts and counts["scope-all"] >= t.scope_min_opens:
        share = 100 * counts["scope-out"] // counts["scope-all"]
        raised += _check(user, "scope", share, t.scope_alert_percent, t.scope_suspend_percent,
                         {"opened": counts["scope-all"], "outside": counts["scope-out"], "percent": share,
                          "window_minutes": t.scope_window_minutes})
    if "denied" in counts:
        raised += _check(user, "denied", counts["denied"], t.denied_alert, t.denied_suspend,
                         {"refusals": counts["denied"], "window_minutes": t.denied_window_minutes})
    return raised


class _Lazy:
    """The user, loaded only when an alert is raised (the common request raises none)."""

    def __init__(self, user_id):
        self.id = user_id
        self._user = None

    def get(self):
        if self._user is None:
            self._user = db.session.get(User, self.id)
        return self._user


def _check(user, kind, value, alert_at, suspend_at, evidence):
    """One alert per kind and window when ``value`` reaches ``alert_at``; one more, suspending, at ``suspend_at``."""
    if value < alert_at and not (suspend_at and value >= suspend_at):
        return []
    redis = get_redis(current_app)
    window = evidence["window_minutes"] * 60
    raised = []
    suspend = bool(suspend_at) and value >= suspend_at
    if value >= alert_at and redis.set(_key(user.id, f"alerted:{kind}"), "1", nx=True, ex=window):
        evidence = {**evidence, "alert_at": alert_at, "suspend_at": suspend_at}
        if suspend:
            redis.set(_key(user.id, f"suspended:{kind}"), "1", ex=window)
        raised.append(access_alerts.raise_alert(user.get(), kind, evidence, suspend=suspend))
    elif suspend and redis.set(_key(user.id, f"suspended:{kind}"), "1", nx=True, ex=window):
        evidence = {**evidence, "alert_at": alert_at, "suspend_at": suspend_at}
        raised.append(access_alerts.raise_alert(user.get(), kind, evidence, suspend=True))
    return raised


def forget(user_id):
    """Drop a user's counters (after a reinstatement, so the old burst does not count again)."""
    redis = get_redis(current_app)
    keys = list(redis.scan_iter(match=f"{PREFIX}{user_id}:*", count=100))
    if keys:
        redis.delete(*keys)


def init_app(app):
    app.after_request(note_response)
    app.teardown_request(evaluate_request)
