"""The append-only, hash-chained audit log."""
import uuid

from sqlalchemy import JSON, DateTime, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import BigIntPK, utcnow


class AuditEvent(db.Model):
    """Who did what to which record, when; details never hold personal data.

    ``hash`` covers every other column and ``prev_hash``; ``prev_hash`` is the
    previous row's ``hash``, so an edited or deleted row breaks the chain.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    # Kept for a limited time, so the chain covers its digest, not the address.
    ip: Mapped[str | None] = mapped_column(String(64))
    ip_digest: Mapped[str | None] = mapped_column(String(64))
    details = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
