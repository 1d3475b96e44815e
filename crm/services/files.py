"""The encrypted file store: write, read as a stream, delete, purge when expired.

Bytes go to ``<INSTANCE_DIR>/files/<id>.mf`` through ``crm.security.filestore``
(chunked AES-GCM, a per-file key wrapped under the keyring); the ``StoredFile``
row says what the file is for, whose it is and when it expires. A file is
written (and fsynced) before its row is flushed, so a committed row always has
its file; a file whose row never committed is an orphan that ``purge_expired``
removes after ``ORPHAN_GRACE``. Files are deleted from disk only after the
transaction that deleted their row commits.

Usage::

    stored = files.store(iterable_of_bytes, "import_upload", owner_id, ttl=timedelta(days=2))
    with files.open_stored(stored.id) as stream:   # seekable binary stream
        ...
"""
import os
import uuid
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models.base import utcnow
from ..models.stored_file import FILE_PURPOSES, StoredFile
from ..security import audit
from ..security.crypto import crypto
from ..security.filestore import DecryptingReader, EncryptingWriter, FileIntegrityError, header_key_id, rewrap

SUFFIX = ".mf"
ORPHAN_GRACE = timedelta(hours=6)
_PENDING_UNLINK = "muster_files_to_unlink"

__all__ = ["FileIntegrityError", "FileTooLarge", "delete", "open_stored", "purge_expired", "rewrap_all",
           "store", "store_writer"]


class FileTooLarge(ServiceError):
    """More bytes than the caller allowed; nothing was kept."""


def files_dir(app=None):
    """``<INSTANCE_DIR>/files``, created 0700 on first use."""
    path = Path((app or current_app).config["INSTANCE_DIR"]) / "files"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def path_of(file_id):
    return files_dir() / f"{uuid.UUID(str(file_id))}{SUFFIX}"


class _Sink:
    """Collects writes into an encrypted temp file; ``commit()`` makes it a StoredFile."""

    def __init__(self, purpose, owner_id, ttl, content_type, max_bytes):
        if purpose not in FILE_PURPOSES:
            raise ValueError(f"unknown file purpose {purpose!r}")
        self.file_id = uuid.uuid4()
        self.final_path = path_of(self.file_id)
        self.tmp_path = self.final_path.with_suffix(".part")
        fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh = os.fdopen(fd, "wb")
        self.writer = EncryptingWriter(self._fh, crypto().keyring, self.file_id)
        self.meta = (purpose, owner_id, ttl, content_type)
        self.max_bytes = max_bytes

    def write(self, data):
        if self.max_bytes is not None and self.writer.size + len(data) > self.max_bytes:
            raise FileTooLarge(f"the file is larger than {self.max_bytes} bytes")
        return self.writer.write(data)

    def commit(self):
        self.writer.finish()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.tmp_path, self.final_path)
        purpose, owner_id, ttl, content_type = self.meta
        now = utcnow()
        stored = StoredFile(id=self.file_id, purpose=purpose, owner_id=owner_id, size=self.writer.size,
                            content_type=content_type, created_at=now, expires_at=now + ttl)
        db.session.add(stored)
        db.session.flush()
        audit.record("file.store", "stored_file", stored.id, purpose=purpose, size=stored.size)
        return stored

    def abort(self):
        self._fh.close()
        self.tmp_path.unlink(missing_ok=True)


class store_writer:  # noqa: N801 -- used as a context manager, like open()
    """``with store_writer(purpose, owner, ttl) as sink: sink.write(b"...")`` then ``sink.stored``.

    On an exception nothing is kept (no row, no file).
    """

    def __init__(self, purpose, owner_id, ttl, content_type="bin", max_bytes=None):
        self._args = (purpose, owner_id, ttl, content_type, max_bytes)
        self.stored = None

    def __enter__(self):
        self._sink = _Sink(*self._args)
        return self._sink

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._sink.abort()
            return False
        try:
            self._sink.stored = self.stored = self._sink.commit()
        except BaseException:
            self._sink.abort()
            raise
        return False


def store(chunks, purpose, owner_id, ttl, content_type="bin", max_bytes=None):
    """Encrypt an iterable of byte strings (or a binary file object) into a new StoredFile."""
    if hasattr(chunks, "read"):
        source = chunks
        chunks = iter(lambda: source.read(256 * 1024), b"")
    with store_writer(purpose, owner_id, ttl, content_type, max_bytes) as sink:
        for chunk in chunks:
            sink.write(chunk)
    return sink.stored


def get(file_id):
    """The StoredFile row, or NotFound (also for a malformed id)."""
    try:
        stored = db.session.get(StoredFile, uuid.UUID(str(file_id)))
    except ValueError:
        stored = None
    if stored is None:
        raise NotFound("no such file")
    return stored


def open_stored(file_id):
    """A seekable binary stream of the plaintext; FileIntegrityError if tampered or truncated."""
    stored = get(file_id)
    try:
        fh = open(path_of(stored.id), "rb")
    except FileNotFoundError:
        raise NotFound("the file is gone (expired or deleted)") from None
    try:
        return DecryptingReader(fh, crypto().keyring, stored.id)
    except BaseException:
        fh.close()
        raise


def delete(file_id):
    """Delete the row now and the bytes once the transaction commits."""
    stored = get(file_id)
    db.session.delete(stored)
    db.session.flush()
    db.session.info.setdefault(_PENDING_UNLINK, []).append(path_of(stored.id))
    audit.record("file.delete", "stored_file", stored.id, purpose=stored.purpose)


@event.listens_for(Session, "after_commit")
def _unlink_deleted(session):
    for path in session.info.pop(_PENDING_UNLINK, None) or ():
        Path(path).unlink(missing_ok=True)


@event.listens_for(Session, "after_rollback")
def _keep_deleted(session):
    session.info.pop(_PENDING_UNLINK, None)


def purge_expired(now=None):
    """Delete expired files (rows and bytes) and orphaned files on disk; return counts."""
    now = now or utcnow()
    expired = db.session.scalars(select(StoredFile).where(StoredFile.expires_at <= now)).all()
    for stored in expired:
        delete(stored.id)
    known = {str(i) for i in db.session.scalars(select(StoredFile.id))}
    orphans = 0
    cutoff = (now - ORPHAN_GRACE).timestamp()
    for path in files_dir().iterdir():
        name = path.name.split(".")[0]
        if name in known or path.stat().st_mtime > cutoff:
            continue
        if path.suffix in (SUFFIX, ".part"):
            path.unlink(missing_ok=True)
            orphans += 1
    if expired or orphans:
        audit.record("file.purge", "stored_file", None, expired=len(expired), orphans=orphans)
    return {"expired": len(expired), "orphans": orphans}


def rewrap_all():
    """Re-wrap every stored file's key under the active key (after ``keys rotate``).

    Returns the number re-wrapped; files already under the active key are skipped.
    """
    active = crypto().keyring.active_id
    count = 0
    for file_id in db.session.scalars(select(StoredFile.id)):
        path = path_of(file_id)
        key_id = header_key_id(path)
        if key_id is not None and key_id != active:
            rewrap(path, crypto().keyring, file_id)
            count += 1
    return count


def key_ids_in_use():
    """{key id: number of stored files whose key it wraps} (what a retirement must check)."""
    counts = {}
    for file_id in db.session.scalars(select(StoredFile.id)):
        key_id = header_key_id(path_of(file_id))
        if key_id is not None:
            counts[key_id] = counts.get(key_id, 0) + 1
    return counts
