"""A request that one person makes and a different person approves (two-person rule).

See ``crm/services/approvals.py`` for the kinds and the rules. ``params`` holds only
non-personal values (a path key, a stage, a level); the reasons, which are free text
and may name people, are encrypted.
"""
import uuid

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import one_of, utcnow, uuid_pk

APPROVAL_STATUSES = ("pending", "approved", "rejected", "cancelled")
_PENDING = text("status = 'pending'")


class ApprovalRequest(db.Model):
    __tablename__ = "approval_request"
    __table_args__ = (
        one_of("status", APPROVAL_STATUSES, "status"),
        # One pending request per (kind, contact, params): the service checks first, the
        # index holds when two requests race.
        Index("uq_approval_request_pending", "subject_key", unique=True,
              postgresql_where=_PENDING, sqlite_where=_PENDING),
        Index("ix_approval_request_status_requested", "status", "requested_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    params = mapped_column(JSON, default=dict)
    # sha256 of (kind, contact id, params) in a canonical form: what "the same request" means.
    subject_key: Mapped[str] = mapped_column(String(64))
    # Concerns restricted paths: invisible (lists and counts) without clearance.
    restricted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    reason_ct = ciphertext_column()
    reason = Encrypted()
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    requested_at = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at = mapped_column(DateTime(timezone=True))
    decision_reason_ct = ciphertext_column()
    decision_reason = Encrypted()

    def __init__(self, **kwargs):
        # The id must exist before any Encrypted value: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)

    def __repr__(self):
        return f"<ApprovalRequest {self.id} {self.kind} {self.status}>"
