"""Recording audit events and verifying their hash chain.

Services call ``record(action, target_type, target_id, **details)``; the actor,
request id and client address come from the context that the request hooks or
the job wrapper set, so services never look at ``flask.request``. Events are
only added to the session: they commit (or roll back) with the work they record.
Details must never hold personal data — ids, counts and field names only.
"""
import contextvars
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models.audit import AuditEvent
from ..models.base import utcnow
from .crypto import crypto
from .keyring import derive_key

GENESIS = "0" * 64
_PG_CHAIN_LOCK = 0x4D555354  # "MUST": one advisory lock serialises chain appends


@dataclass(frozen=True)
class AuditContext:
    actor_id: object = None
    request_id: str | None = None
    ip: str | None = None


_context = contextvars.ContextVar("muster_audit_context", default=AuditContext())


def set_context(actor_id=None, request_id=None, ip=None):
    """Set who is acting for the events recorded from here on; returns a reset token."""
    return _context.set(AuditContext(actor_id, request_id, ip))


def reset_context(token):
    _context.reset(token)


def current_context():
    return _context.get()


def record(action, target_type=None, target_id=None, session=None, **details):
    """Add one audit event to the session (hash filled in at flush)."""
    ctx = _context.get()
    session = session or db.session
    ip_digest = _address_digest(ctx.ip) if ctx.ip else None
    audit_event = AuditEvent(
        at=utcnow(), actor_id=ctx.actor_id, action=action, target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        request_id=ctx.request_id, ip=ctx.ip, ip_digest=ip_digest, details=details,
    )
    session.add(audit_event)
    session.info.setdefault("audit_pending", []).append(audit_event)
    return audit_event


def _address_digest(ip):
    """Keyed digest of a client address: the chain covers it, so the address can go.

    Unkeyed SHA-256 of an IPv4 address is reversed by trying all 2^32 of them; an
    HMAC under a key derived from the keyring's index root is not, without the key.
    """
    root = crypto().keyring.active.idx_root
    return hmac.new(derive_key(root, "muster:audit:ip"), ip.encode(), hashlib.sha256).hexdigest()


def forget_client_addresses(older_than_days):
    """Blank the client address of events older than the retention period.

    The hash chain covers the address's keyed digest, not the address, so the
    chain still verifies afterwards. Returns how many events were changed.
    """
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = db.session.execute(
        update(AuditEvent).where(AuditEvent.at < cutoff, AuditEvent.ip.is_not(None)).values(ip=None)
    )
    db.session.flush()
    return result.rowcount


def compute_hash(prev_hash, audit_event):
    """SHA-256 over the previous hash and every column except id, hash and ip."""
    payload = {
        "at": _utc_text(audit_event.at),
        "actor_id": str(audit_event.actor_id) if audit_event.actor_id else None,
        "action": audit_event.action,
        "target_type": audit_event.target_type,
        "target_id": audit_event.target_id,
        "request_id": audit_event.request_id,
        "ip_digest": audit_event.ip_digest,
        "details": audit_event.details or {},
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()


def _utc_text(at):
    # SQLite hands datetimes back naive, PostgreSQL in its session zone: hash UTC text.
    if at is None:
        return None
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat()


@event.listens_for(Session, "before_flush")
def _chain_pending_events(session, flush_context, instances):
    pending = session.info.pop("audit_pending", None)
    if not pending:
        return
    pending = [e for e in pending if e in session.new]
    if not pending:
        return
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})
        prev = session.info.get("audit_last_hash")
        if prev is None:
            prev = session.execute(
                select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
            ).scalar() or GENESIS
    for audit_event in pending:
        audit_event.prev_hash = prev
        audit_event.hash = prev = compute_hash(prev, audit_event)
    session.info["audit_last_hash"] = prev


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_chain_head(session):
    session.info.pop("audit_last_hash", None)
    session.info.pop("audit_pending", None)


@dataclass
class ChainReport:
    checked: int
    broken_id: int | None = None
    reason: str | None = None
    anchors: int = 0  # anchors kept outside the database that matched (decision 0033)
    newest_anchor: object = None  # the one with the highest event id

    @property
    def ok(self):
        return self.broken_id is None


def verify_chain(session=None, batch=5000, anchors=(), since=None):
    """Walk the log in id order; report the first row whose hash or link is wrong.

    ``anchors`` (``audit_anchor.Anchor``) pin the hash of a row as it was when the anchor
    was written outside the database: a row with another hash, or no row, means the log
    was rewritten or cut after that, which the chain alone cannot show. With ``since`` (an
    anchor) only the rows after it are walked, once its own row is checked against it.
    """
    session = session or db.session
    pinned = {}
    for anchor in anchors:
        pinned.setdefault(anchor.event_id, []).append(anchor)
    prev = GENESIS
    checked = 0
    last_id = 0
    if since is not None:
        found = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == since.event_id))
        if found is None:
            last_id = session.scalar(select(func.max(AuditEvent.id))) or 0
            return ChainReport(0, since.event_id, _missing(since, last_id))
        if found != since.hash:
            return ChainReport(0, since.event_id, _differs(since))
        prev, last_id = since.hash, since.event_id
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for row in rows:
            if row.prev_hash != prev:
                return ChainReport(checked, row.id, "its prev_hash does not match the row before it "
                                                    "(a row was deleted or re-ordered)")
            if compute_hash(prev, row) != row.hash:
                return ChainReport(checked, row.id, "its content does not match its hash (the row was edited)")
            for anchor in pinned.pop(row.id, ()):
                if anchor.hash != row.hash:
                    return ChainReport(checked, row.id, _differs(anchor))
            prev = row.hash
            checked += 1
            last_id = row.id
        session.expunge_all()
    if pinned:
        missing = min(pinned)
        return ChainReport(checked, missing, _missing(pinned[missing][0], last_id))
    newest = max(anchors, key=lambda a: a.event_id, default=None)
    return ChainReport(checked, anchors=len(anchors), newest_anchor=newest)


def _differs(anchor):
    return f"its hash differs from the anchor in {anchor.source}{_written(anchor)} (the log was rewritten from here or before)"


def _missing(anchor, last_id):
    how = "the newest events were deleted" if anchor.event_id > last_id else "it was deleted and the chain re-linked"
    return f"it is missing, but {anchor.source} anchored it{_written(anchor)} ({how})"


def _written(anchor):
    return f" written {anchor.at}" if anchor.at else ""
