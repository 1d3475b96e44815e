"""Server-side staff sessions: the cookie holds a random token, this table its digest."""
import uuid

from sqlalchemy import DateTime, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import one_of, utcnow, uuid_pk

# Where a sign-in stands: the first three are half-finished (password accepted only).
SESSION_STAGES = ("change_password", "enrol", "totp", "full")
END_REASONS = ("logout", "logout_everywhere", "idle", "absolute", "revoked", "disabled",
               "password_changed", "totp_reset", "superseded")


class UserSession(db.Model):
    """One signed-in browser. Ending it (``ended_at``) signs that browser out at once."""

    __tablename__ = "user_session"
    __table_args__ = (one_of("stage", SESSION_STAGES, "stage"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    stage: Mapped[str] = mapped_column(String(16))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at = mapped_column(DateTime(timezone=True), default=utcnow)
    authenticated_at = mapped_column(DateTime(timezone=True))
    ended_at = mapped_column(DateTime(timezone=True), index=True)
    end_reason: Mapped[str | None] = mapped_column(String(32))

    @property
    def is_full(self):
        return self.stage == "full" and self.ended_at is None
