"""Follow-up work on a contact."""
import uuid

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import one_of, utcnow, uuid_pk
from .enums import FOLLOWUP_KINDS, FOLLOWUP_STATUSES, PATHS


class FollowUp(db.Model):
    __tablename__ = "follow_up"
    __table_args__ = (
        one_of("kind", FOLLOWUP_KINDS, "kind"),
        one_of("status", FOLLOWUP_STATUSES, "status"),
        one_of("path", PATHS, "path"),
        Index("ix_follow_up_queue", "assignee_id", "status", "due_at"),
        Index("ix_follow_up_due", "status", "due_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    path: Mapped[str | None] = mapped_column(String(24))
    kind: Mapped[str] = mapped_column(String(24))
    due_at = mapped_column(DateTime(timezone=True))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome_ct = ciphertext_column()
    outcome = Encrypted()
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Set when a rule created it: "<rule key>:<stage change id>" makes re-runs no-ops.
    rule_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    # The rule (and its version) that created it, and the stage entry that fired it.
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("follow_up_rule.id", ondelete="SET NULL"))
    rule_version: Mapped[int | None] = mapped_column(Integer)
    stage_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("stage_change.id", ondelete="SET NULL"), index=True)
    cancel_reason_ct = ciphertext_column()
    cancel_reason = Encrypted()
    # Set once the overdue reminder was queued (its Outbox key makes it once anyway).
    reminded_at = mapped_column(DateTime(timezone=True))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    completed_at = mapped_column(DateTime(timezone=True))
    # Set when the retention purge blanked the outcome and cancel reason.
    purged_at = mapped_column(DateTime(timezone=True))

    contact = relationship("Contact")
    assignee = relationship("User", foreign_keys=[assignee_id])

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)
