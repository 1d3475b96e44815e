"""The encrypted file store: round trips, seeking, tampering, truncation, purge, rotation."""
import io
import os
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.errors import NotFound
from crm.extensions import db
from crm.models import StoredFile
from crm.models.base import utcnow
from crm.security.crypto import crypto
from crm.security.filestore import CHUNK_BYTES, HEADER, RECORD, FileIntegrityError, header_key_id
from crm.services import files, keys

MARKER = b"Zzyzx-filestore-marker-417"


def _payload(size):
    block = MARKER + bytes(range(256))
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 17])
def test_round_trip_at_chunk_boundaries(app, size):
    data = _payload(size)
    stored = files.store([data[:1000], data[1000:]], "import_upload", None, timedelta(hours=1))
    db.session.commit()
    assert stored.size == size
    with files.open_stored(stored.id) as stream:
        assert stream.read() == data
    raw = files.path_of(stored.id).read_bytes()
    assert MARKER not in raw
    assert len(raw) >= size + HEADER.size + RECORD.size + 16


def test_seek_reads_any_range_and_openpyxl_style_zip_works(app):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", _payload(5 * CHUNK_BYTES))
        archive.writestr("b.txt", b"hello")
    stored = files.store(io.BytesIO(buffer.getvalue()), "import_upload", None, timedelta(hours=1))
    db.session.commit()
    with files.open_stored(stored.id) as stream:
        stream.seek(CHUNK_BYTES * 2 + 5)
        assert stream.read(10) == buffer.getvalue()[CHUNK_BYTES * 2 + 5:CHUNK_BYTES * 2 + 15]
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            assert archive.read("b.txt") == b"hello"


def _stored(size=2 * CHUNK_BYTES + 100):
    stored = files.store([_payload(size)], "import_upload", None, timedelta(hours=1))
    db.session.commit()
    return stored, files.path_of(stored.id)


def test_flipped_byte_fails_authentication(app):
    stored, path = _stored()
    raw = bytearray(path.read_bytes())
    raw[HEADER.size + RECORD.size + 10] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(FileIntegrityError), files.open_stored(stored.id) as stream:
        stream.read()


@pytest.mark.parametrize("cut", ["last_chunk", "last_byte"])
def test_truncation_is_detected(app, cut):
    stored, path = _stored()
    raw = path.read_bytes()
    record = RECORD.size + CHUNK_BYTES + 16
    keep = HEADER.size + 2 * record if cut == "last_chunk" else len(raw) - 1
    path.write_bytes(raw[:keep])
    with pytest.raises(FileIntegrityError):
        with files.open_stored(stored.id) as stream:
            stream.read()


def test_file_copied_under_another_id_does_not_decrypt(app):
    first, first_path = _stored()
    second, second_path = _stored()
    second_path.write_bytes(first_path.read_bytes())
    with pytest.raises(FileIntegrityError):
        files.open_stored(second.id)


def test_too_large_keeps_nothing(app):
    before = set(os.listdir(files.files_dir()))
    with pytest.raises(files.FileTooLarge):
        files.store([b"x" * 1000, b"y" * 1000], "import_upload", None, timedelta(hours=1), max_bytes=1500)
    db.session.commit()
    assert set(os.listdir(files.files_dir())) == before
    assert db.session.scalar(select(StoredFile.id)) is None


def test_purge_removes_expired_rows_files_and_orphans(app):
    fresh, fresh_path = _stored(10)
    old, old_path = _stored(10)
    old.expires_at = utcnow() - timedelta(minutes=1)
    orphan = files.files_dir() / "00000000-0000-4000-8000-000000000000.mf"
    orphan.write_bytes(b"left by a crash")
    ancient = (utcnow() - files.ORPHAN_GRACE - timedelta(minutes=1)).timestamp()
    os.utime(orphan, (ancient, ancient))
    db.session.commit()
    assert files.purge_expired() == {"expired": 1, "orphans": 1}
    db.session.commit()
    assert not old_path.exists() and not orphan.exists() and fresh_path.exists()
    with pytest.raises(NotFound):
        files.open_stored(old.id)


def test_delete_unlinks_only_after_commit(app):
    stored, path = _stored(10)
    files.delete(stored.id)
    db.session.rollback()
    assert path.exists()
    files.delete(stored.id)
    db.session.commit()
    assert not path.exists()


def test_rewrap_after_rotation_keeps_files_readable_when_old_key_retired(app):
    data = _payload(CHUNK_BYTES + 5)
    stored = files.store([data], "import_upload", None, timedelta(hours=1))
    db.session.commit()
    old_key = crypto().keyring.active_id
    new_key = keys.add_active_key()
    assert files.key_ids_in_use() == {old_key: 1}
    assert files.rewrap_all() == 1
    db.session.commit()
    assert header_key_id(files.path_of(stored.id)) == new_key
    keys.retire_key(old_key)
    db.session.commit()
    with files.open_stored(stored.id) as stream:
        assert stream.read() == data


def test_cron_entry_purges_through_a_real_worker(app, run_worker):
    import workers.cron_config  # noqa: F401 -- the schedule registers the job
    from rq.cron import _job_data_registry

    assert any(entry["func"].__name__ == "purge_expired_files" for entry in _job_data_registry)
    old, old_path = _stored(10)
    old.expires_at = utcnow() - timedelta(minutes=1)
    old_id = old.id
    db.session.commit()
    from crm.jobs import get_queue

    get_queue("maintenance").enqueue("workers.periodic.purge_expired_files")
    run_worker("maintenance")
    db.session.remove()
    assert not old_path.exists()
    assert db.session.get(StoredFile, old_id) is None
