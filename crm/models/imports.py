"""Sign-up sheet imports: one run per uploaded file, one outcome per row."""
import uuid

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import BigIntPK, one_of, utcnow, uuid_pk

IMPORT_STATUSES = ("uploaded", "queued", "running", "done", "failed")
ROW_OUTCOMES = ("created", "merged", "duplicate", "rejected")


class ImportRun(db.Model):
    """One import of one stored file; ``cursor`` is the last record committed (resume point).

    Nothing here is personal: the column mapping names fields, the content MAC is
    keyed (it only says "the same file again"), counts are counts.
    """

    __tablename__ = "import_run"
    __table_args__ = (one_of("status", IMPORT_STATUSES, "status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))
    rejects_file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("meeting.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8), default="csv")
    encoding: Mapped[str | None] = mapped_column(String(16))
    delimiter: Mapped[str | None] = mapped_column(String(1))
    has_header: Mapped[bool] = mapped_column(Boolean, default=True)
    columns: Mapped[int] = mapped_column(Integer, default=0)
    region: Mapped[str] = mapped_column(String(2), default="PL")
    mapping = mapped_column(JSON, default=dict)
    content_mac: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="uploaded")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(255))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at = mapped_column(DateTime(timezone=True))
    finished_at = mapped_column(DateTime(timezone=True))


class ImportRow(db.Model):
    """What became of one record of the file (unique per run: a replayed batch adds nothing)."""

    __tablename__ = "import_row"
    __table_args__ = (
        UniqueConstraint("import_id", "record", name="uq_import_row_record"),
        one_of("outcome", ROW_OUTCOMES, "outcome"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"))
    record: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"), index=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    # Keyed MAC of the row's normalised values: the same row imported again is recognised.
    fingerprint: Mapped[str | None] = mapped_column(String(32), index=True)
