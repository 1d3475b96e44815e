"""Every outgoing message, once: the idempotency key makes a retried job a no-op."""
import uuid

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import one_of, utcnow, uuid_pk
from .enums import OUTBOX_STATUSES


class Outbox(db.Model):
    __tablename__ = "outbox"
    __table_args__ = (one_of("status", OUTBOX_STATUSES, "status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(48))
    recipient_ct = ciphertext_column()
    recipient = Encrypted()
    subject_ct = ciphertext_column()
    subject = Encrypted()
    body_ct = ciphertext_column()
    body = Encrypted()
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at = mapped_column(DateTime(timezone=True))

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)
