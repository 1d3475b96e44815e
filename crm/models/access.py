"""Access anomaly alerts, their thresholds, and the emergency lockdown.

Nothing here names a contact: an alert holds a user id, a kind and counts; the
review note and the lockdown reasons are free text, so they are encrypted.
"""
import uuid

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import one_of, utcnow, uuid_pk

ALERT_KINDS = ("reads", "scope", "denied")
ALERT_STATUSES = ("open", "reviewed")


class AccessAlert(db.Model):
    """One burst of unusual access by one user (``evidence``: counts, window, thresholds)."""

    __tablename__ = "access_alert"
    __table_args__ = (
        one_of("kind", ALERT_KINDS, "kind"),
        one_of("status", ALERT_STATUSES, "status"),
        Index("ix_access_alert_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    evidence = mapped_column(JSON, default=dict)
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set when this alert's burst crossed the suspension threshold and the account was suspended.
    suspended: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reviewed_at = mapped_column(DateTime(timezone=True))
    review_note_ct = ciphertext_column()
    review_note = Encrypted()

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)


class AccessSettings(db.Model):
    """The thresholds admins set (one row, id 1); absent, the config defaults apply."""

    __tablename__ = "access_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reads_window_minutes: Mapped[int] = mapped_column(Integer)
    reads_alert: Mapped[int] = mapped_column(Integer)
    reads_suspend: Mapped[int] = mapped_column(Integer)
    scope_window_minutes: Mapped[int] = mapped_column(Integer)
    scope_min_opens: Mapped[int] = mapped_column(Integer)
    scope_alert_percent: Mapped[int] = mapped_column(Integer)
    scope_suspend_percent: Mapped[int] = mapped_column(Integer)
    denied_window_minutes: Mapped[int] = mapped_column(Integer)
    denied_alert: Mapped[int] = mapped_column(Integer)
    denied_suspend: Mapped[int] = mapped_column(Integer)
    updated_at = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class Lockdown(db.Model):
    """An emergency lockdown: in force from ``started_at`` until ``lifted_at``."""

    __tablename__ = "lockdown"

    id: Mapped[uuid.UUID] = uuid_pk()
    approval_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_request.id", ondelete="SET NULL"))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    started_at = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    sessions_ended: Mapped[int] = mapped_column(Integer, default=0)
    lifted_at = mapped_column(DateTime(timezone=True))
    lifted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    lift_reason_ct = ciphertext_column()
    lift_reason = Encrypted()

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)
