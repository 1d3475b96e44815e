"""Reading the audit log for the admin viewer: filter, page, name the actors.

Read-only: nothing here adds, changes or removes an event. Filters hold ids,
action names and dates only (no personal data), so they may travel in a URL.
"""
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from ..extensions import db
from ..models import AuditEvent, User
from ..security import audit_anchor

PER_PAGE = 50


@dataclass(frozen=True)
class AuditFilter:
    actor_id: uuid.UUID | None = None
    action: str | None = None
    target_id: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list
    actors: dict
    page: int
    pages: int
    total: int

    @property
    def has_prev(self):
        return self.page > 1

    @property
    def has_next(self):
        return self.page < self.pages


def _start_of(day):
    return datetime.combine(day, time.min, tzinfo=UTC)


def _escape_like(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(stmt, flt):
    if flt.actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == flt.actor_id)
    if flt.action:
        # A prefix, so "auth." finds every sign-in event and "user.role" just that one.
        stmt = stmt.where(AuditEvent.action.like(_escape_like(flt.action) + "%", escape="\\"))
    if flt.target_id:
        stmt = stmt.where(AuditEvent.target_id == flt.target_id)
    if flt.since:
        stmt = stmt.where(AuditEvent.at >= _start_of(flt.since))
    if flt.until:
        stmt = stmt.where(AuditEvent.at < _start_of(flt.until + timedelta(days=1)))
    return stmt


def search(flt, page=1, per_page=PER_PAGE):
    """One page of events matching ``flt``, newest first, with the actors' logins."""
    total = db.session.scalar(_filtered(select(func.count(AuditEvent.id)), flt)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    events = list(db.session.scalars(
        _filtered(select(AuditEvent), flt).order_by(AuditEvent.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ))
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    actors = dict(db.session.execute(select(User.id, User.login).where(User.id.in_(actor_ids))).all()) \
        if actor_ids else {}
    return AuditPage(events, actors, page, pages, total)


def describe(flt):
    """The filter as plain values for the ``audit.view`` event (ids, prefixes and dates only)."""
    values = {"actor": flt.actor_id and str(flt.actor_id), "action": flt.action, "target": flt.target_id,
              "since": flt.since and flt.since.isoformat(), "until": flt.until and flt.until.isoformat()}
    return {key: value for key, value in values.items() if value}


def known_actions():
    """The distinct action names in the log, for the filter's suggestions."""
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def anchoring():
    """The anchor file's last anchor and whether anchoring looks stopped (decision 0033)."""
    return audit_anchor.status(db.session)
