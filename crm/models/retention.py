"""An admin's hold that keeps one person out of retention (never archived, never erased)."""
import uuid

from sqlalchemy import DateTime, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import utcnow, uuid_pk


class RetentionHold(db.Model):
    """At most one per contact; the reason is free text, so it is encrypted."""

    __tablename__ = "retention_hold"

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), unique=True)
    reason_ct = ciphertext_column()
    reason = Encrypted()
    held_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    held_at = mapped_column(DateTime(timezone=True), default=utcnow)

    def __init__(self, **kwargs):
        # The id must exist before the reason is encrypted: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)
