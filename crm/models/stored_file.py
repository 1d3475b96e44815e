"""A file kept encrypted under ``<INSTANCE_DIR>/files/`` (uploads, rejected rows, exports)."""
import uuid

from sqlalchemy import BigInteger, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow, uuid_pk

FILE_PURPOSES = ("import_upload", "import_rejects", "export")


class StoredFile(db.Model):
    """Metadata of one encrypted file; the bytes live on disk, named by ``id`` only.

    Nothing here identifies a person: the original file name is not kept (it may
    name a city or a meeting), only what it is for, who may read it, its size and
    when it goes away.
    """

    __tablename__ = "stored_file"

    id: Mapped[uuid.UUID] = uuid_pk()
    purpose: Mapped[str] = mapped_column(String(24))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    content_type: Mapped[str] = mapped_column(String(16), default="bin")
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at = mapped_column(DateTime(timezone=True), index=True)
    downloaded_at = mapped_column(DateTime(timezone=True))
