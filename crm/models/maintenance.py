"""Progress of long maintenance runs, kept in the database so they can resume."""
from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import one_of, utcnow


class KeyRotation(db.Model):
    """One re-encryption of every value (and re-index) under ``target_key_id``."""

    __tablename__ = "key_rotation"
    __table_args__ = (one_of("status", ("running", "done", "failed"), "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target_key_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="running")
    # {"<table>": "<last primary key done>"}: where a resumed run picks up.
    cursor = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(255))
    started_at = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at = mapped_column(DateTime(timezone=True))
