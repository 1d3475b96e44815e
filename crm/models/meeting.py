"""Public meetings and who was met there."""
import uuid

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import BigIntPK, utcnow, uuid_pk

meeting_host = Table(
    "meeting_host",
    db.metadata,
    Column("meeting_id", ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
)


class Meeting(db.Model):
    """A public meeting: its place and time are public, its notes are not."""

    __tablename__ = "meeting"

    id: Mapped[uuid.UUID] = uuid_pk()
    city: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2))
    starts_at = mapped_column(DateTime(timezone=True), index=True)
    venue: Mapped[str | None] = mapped_column(String(200))
    notes_ct = ciphertext_column()
    notes = Encrypted()
    expected_attendance: Mapped[int | None] = mapped_column(Integer)
    actual_attendance: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)

    hosts = relationship("User", secondary=meeting_host)
    attendances = relationship("Attendance", back_populates="meeting", cascade="all, delete-orphan")

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)


class Attendance(db.Model):
    """A contact met at a meeting."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "contact_id", name="uq_attendance_meeting_contact"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)

    meeting = relationship("Meeting", back_populates="attendances")
    contact = relationship("Contact")
