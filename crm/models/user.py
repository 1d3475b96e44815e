"""Staff accounts and their recovery codes."""
import uuid

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import one_of, utcnow, uuid_pk
from .enums import ROLES


class User(db.Model):
    """A staff account; also the Flask-Login user object.

    ``totp_secret`` is set while enrolling and counts as a second factor only
    once ``totp_enabled_at`` is set (the first code was confirmed).
    ``totp_last_step`` is the last accepted TOTP time step, so a code is never
    accepted twice.
    """

    __tablename__ = "user"
    __table_args__ = (one_of("role", ROLES, "role"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    password_changed_at = mapped_column(DateTime(timezone=True))
    totp_secret_ct = ciphertext_column()
    totp_secret = Encrypted()
    totp_enabled_at = mapped_column(DateTime(timezone=True))
    # Where reminders and digests go (counts and links only); none means no staff mail.
    email_ct = ciphertext_column()
    email = Encrypted()
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16), default="staff")
    restricted_clearance: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until = mapped_column(DateTime(timezone=True))
    # Suspended by the access watch (crm/services/access_alerts.py) until an admin reinstates.
    suspended_at = mapped_column(DateTime(timezone=True))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at = mapped_column(DateTime(timezone=True))

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)

    # Flask-Login interface: a loaded User always came through a live server-side session.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self):
        return bool(self.active)

    def get_id(self):
        return str(self.id)

    @property
    def totp_enabled(self):
        return self.totp_enabled_at is not None

    def __repr__(self):
        return f"<User {self.login}>"


class RecoveryCode(db.Model):
    """One single-use recovery code, stored as a SHA-256 digest.

    Codes carry 80 random bits, so a fast digest is enough: a leaked table
    cannot be brute-forced, unlike a human-chosen password.
    """

    __tablename__ = "recovery_code"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    used_at = mapped_column(DateTime(timezone=True))
