"""Staff accounts."""
import uuid

from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import one_of, utcnow, uuid_pk
from .enums import ROLES


class User(db.Model):
    __tablename__ = "user"
    __table_args__ = (one_of("role", ROLES, "role"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret_ct = ciphertext_column()
    totp_secret = Encrypted()
    role: Mapped[str] = mapped_column(String(16), default="staff")
    restricted_clearance: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until = mapped_column(DateTime(timezone=True))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at = mapped_column(DateTime(timezone=True))

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)

    def __repr__(self):
        return f"<User {self.login}>"
