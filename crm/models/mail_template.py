"""Admin-edited wording of a mail template, one immutable row per version.

The newest version of (template, locale) is the one in use; a version whose
three parts are all empty means "the default file again". Templates hold no
personal data, so they are stored in the clear.
"""
import uuid

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow, uuid_pk


class MailTemplate(db.Model):
    __tablename__ = "mail_template"
    __table_args__ = (UniqueConstraint("template", "locale", "version", name="uq_mail_template_version"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    template: Mapped[str] = mapped_column(String(96))
    locale: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def is_default(self):
        return not (self.subject or self.text or self.html)
