"""Every outgoing message, once: the idempotency key makes a retried job a no-op.

Recipient, subject and both bodies are encrypted. ``status`` moves
pending -> sending (claimed by one job, ``claim_token``) -> sent | failed;
``data_started_at`` marks that the SMTP DATA phase began, after which a
crashed send is "in doubt" and never resent automatically (see
docs/decisions/0010-mail-delivery.md).
"""
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
    template: Mapped[str | None] = mapped_column(String(96))
    locale: Mapped[str | None] = mapped_column(String(8))
    recipient_ct = ciphertext_column()
    recipient = Encrypted()
    subject_ct = ciphertext_column()
    subject = Encrypted()
    body_ct = ciphertext_column()
    body = Encrypted()
    html_ct = ciphertext_column()
    html = Encrypted()
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(255))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_at = mapped_column(DateTime(timezone=True))
    data_started_at = mapped_column(DateTime(timezone=True))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at = mapped_column(DateTime(timezone=True))

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)
