"""Notes added to a contact over time, each encrypted, each with its author (and meeting)."""
import uuid

from sqlalchemy import DateTime, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import utcnow, uuid_pk


class ContactNote(db.Model):
    __tablename__ = "contact_note"

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Set when the note was taken at a meeting (quick capture).
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("meeting.id", ondelete="SET NULL"))
    body_ct = ciphertext_column()
    body = Encrypted()
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)

    def __init__(self, **kwargs):
        # The id must exist before the body is encrypted: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)
