"""Exports of a filtered contact list: request, approval, the encrypted file, and its canary."""
import uuid

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import one_of, utcnow, uuid_pk

EXPORT_STATUSES = ("pending_approval", "refused", "queued", "ready", "downloaded", "expired", "failed")
EXPORT_FORMATS = ("csv", "xlsx")


class Export(db.Model):
    """One requested export. ``filters`` and ``columns`` hold keys and public ids only.

    ``reason`` (free text, may name people) and ``canary`` (the synthetic person
    planted in this export's file, as JSON) are encrypted; the canary's email and
    phone also get blind-index tokens so a leaked file, or the canary's address
    turning up anywhere, leads back to this row. The canary is never a contact:
    no list, count or search can meet it.
    """

    __tablename__ = "export"
    __table_args__ = (
        one_of("status", EXPORT_STATUSES, "status"),
        one_of("format", EXPORT_FORMATS, "format"),
        Index("ix_export_requester_created", "requested_by_id", "created_at"),
        Index("ix_export_canary_email", "canary_key_id", "canary_email_token"),
        Index("ix_export_canary_phone", "canary_key_id", "canary_phone_token"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    format: Mapped[str] = mapped_column(String(8), default="csv")
    filters = mapped_column(JSON, default=dict)
    columns = mapped_column(JSON, default=list)
    with_clearance: Mapped[bool] = mapped_column(default=False)
    requested_count: Mapped[int] = mapped_column(Integer, default=0)
    row_count: Mapped[int | None] = mapped_column(Integer)
    reason_ct = ciphertext_column()
    reason = Encrypted()
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at = mapped_column(DateTime(timezone=True))
    file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))
    ready_at = mapped_column(DateTime(timezone=True))
    expires_at = mapped_column(DateTime(timezone=True))
    downloaded_at = mapped_column(DateTime(timezone=True))
    failure: Mapped[str | None] = mapped_column(String(200))
    canary_ct = ciphertext_column()
    canary = Encrypted()
    canary_key_id: Mapped[int | None] = mapped_column(SmallInteger)
    canary_email_token: Mapped[int | None] = mapped_column(Integer)
    canary_phone_token: Mapped[int | None] = mapped_column(Integer)

    def __init__(self, **kwargs):
        # The id must exist before any Encrypted value: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)
