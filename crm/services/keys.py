"""Key rotation and verification.

Rotation re-encrypts every value under the active key and recomputes every blind
index under the active index root, one batch at a time. Its progress (a cursor
per table) lives in the ``key_rotation`` row, so a run killed half-way resumes
where the last committed batch ended. A key is retired only after
``verify_keys`` finds no value and no index row under it.
"""
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..errors import ServiceError
from ..extensions import db
from ..jobs import enqueue, job_is_live
from ..models import ENCRYPTED_MODELS, Contact, ContactIndex, KeyRotation
from ..models.base import utcnow
from ..security import audit, blind_index
from ..security.cipher import DecryptionError, key_id_of
from ..security.crypto import crypto
from ..security.fields import UNREADABLE, encrypted_fields
from ..security.keyring import save_keyring

DONE = "done"
ROTATION_JOB_TIMEOUT = 6 * 3600
INDEXED = {"full_name": blind_index.NAME_WORD, "email": blind_index.EMAIL,
           "phone": blind_index.PHONE, "messenger": blind_index.MESSENGER}


def _models():
    return sorted(ENCRYPTED_MODELS, key=lambda m: m.__tablename__)


def count_rows():
    return sum(db.session.scalar(select(func.count()).select_from(m)) for m in _models())


def unfinished_rotation():
    return db.session.scalar(
        select(KeyRotation).where(KeyRotation.status == "running").order_by(KeyRotation.id.desc())
    )


def add_active_key():
    """Add a key generation to the key file and make it active (file keyrings only)."""
    keys = crypto()
    if keys.env_value:
        raise ServiceError(
            "the keyring comes from MUSTER_KEYRING: store the output of "
            "`flask crm keys generate --next` there, restart, then run `flask crm keys rotate --no-new-key`"
        )
    keyring = keys.keyring.with_new_generation()
    save_keyring(keyring, keys.file_path)
    keys.reload()
    audit.record("keys.generate", "key", keyring.active_id)
    return keyring.active_id


def start_rotation():
    """Record a rotation to the active key (or return the one still running)."""
    running = unfinished_rotation()
    if running is not None:
        if running.target_key_id != crypto().keyring.active_id:
            running.status = "failed"
            running.error = "superseded by a rotation to a newer key"
        else:
            return running
    rotation = KeyRotation(target_key_id=crypto().keyring.active_id, cursor={}, total=count_rows())
    db.session.add(rotation)
    db.session.flush()
    audit.record("keys.rotate.start", "key", rotation.target_key_id, rotation=rotation.id, rows=rotation.total)
    return rotation


def rotate_batch(rotation_id, batch_size=500):
    """Re-encrypt and re-index the next batch; return True while work remains."""
    rotation = db.session.get(KeyRotation, rotation_id)
    if rotation is None or rotation.status != "running":
        return False
    target = rotation.target_key_id
    if crypto().keyring.active_id != target:
        raise ServiceError(f"rotation {rotation.id} targets key {target}, but key "
                           f"{crypto().keyring.active_id} is active: start a new rotation")
    cursor = dict(rotation.cursor or {})
    for model in _models():
        table = model.__tablename__
        if cursor.get(table) == DONE:
            continue
        query = select(model).order_by(model.id).limit(batch_size)
        if cursor.get(table):
            query = query.where(model.id > uuid.UUID(cursor[table]))
        if model is Contact:
            query = query.options(selectinload(Contact.index_entries))
        rows = db.session.execute(query).scalars().all()
        for row in rows:
            _rotate_row(row, target)
        cursor[table] = DONE if len(rows) < batch_size else str(rows[-1].id)
        rotation.cursor = cursor
        rotation.done = min(rotation.total, rotation.done + len(rows))
        db.session.flush()
        return True
    rotation.status = "done"
    rotation.finished_at = utcnow()
    audit.record("keys.rotate.done", "key", target, rotation=rotation.id, rows=rotation.done)
    db.session.flush()
    return False


def _rotate_row(row, target):
    for name in encrypted_fields(type(row)):
        blob = getattr(row, f"{name}_ct")
        if blob is None or key_id_of(blob) == target:
            continue
        value = getattr(row, name)
        if value is UNREADABLE:
            continue  # left as is; verify_keys reports it
        setattr(row, name, value)  # re-encrypts (and re-indexes) under the active key
    if isinstance(row, Contact) and any(e.key_id != target for e in row.index_entries):
        for name, spec in INDEXED.items():
            value = getattr(row, name)
            if value is not UNREADABLE:
                row.reindex(spec, value, key_id=target)


@dataclass
class VerifyReport:
    values_by_key: Counter = field(default_factory=Counter)
    index_rows_by_key: Counter = field(default_factory=Counter)
    unreadable: list = field(default_factory=list)  # (table, column, row id, reason)
    checked: int = 0

    def stale(self, active_id):
        """Key ids other than the active one that still hold values or index rows."""
        return sorted((set(self.values_by_key) | set(self.index_rows_by_key)) - {active_id})

    def ok(self, active_id):
        return not self.unreadable and not self.stale(active_id)


def verify_keys(batch_size=1000, max_listed=50):
    """Decrypt every value and count values and index rows per key id."""
    cipher = crypto().cipher
    report = VerifyReport()
    for model in _models():
        table = model.__tablename__
        names = encrypted_fields(model)
        columns = [model.id] + [getattr(model, f"{n}_ct") for n in names]
        last = None
        while True:
            query = select(*columns).order_by(model.id).limit(batch_size)
            if last is not None:
                query = query.where(model.id > last)
            rows = db.session.execute(query).all()
            if not rows:
                break
            for row in rows:
                for name, blob in zip(names, row[1:]):
                    if blob is None:
                        continue
                    report.checked += 1
                    report.values_by_key[key_id_of(blob)] += 1
                    try:
                        cipher.decrypt(table, name, row[0], blob)
                    except DecryptionError as exc:
                        if len(report.unreadable) < max_listed:
                            report.unreadable.append((table, name, str(row[0]), str(exc)))
            last = rows[-1][0]
    for key_id, count in db.session.execute(
        select(ContactIndex.key_id, func.count()).group_by(ContactIndex.key_id)
    ):
        report.index_rows_by_key[key_id] = count
    return report


def retire_key(key_id):
    """Remove a key generation from the key file once nothing is stored under it."""
    keys = crypto()
    if keys.env_value:
        raise ServiceError("the keyring comes from MUSTER_KEYRING: remove the key there and restart")
    if key_id == keys.keyring.active_id:
        raise ServiceError(f"key {key_id} is the active key; rotate to a new key first")
    keys.keyring.get(key_id)
    # Stored files (uploads, exports) keep their chunks; only their wrapped key moves.
    from .files import rewrap_all

    rewrap_all()
    report = verify_keys()
    if report.values_by_key.get(key_id) or report.index_rows_by_key.get(key_id):
        raise ServiceError(
            f"key {key_id} still protects {report.values_by_key.get(key_id, 0)} values and "
            f"{report.index_rows_by_key.get(key_id, 0)} index rows: run `flask crm keys rotate` first"
        )
    keyring = keys.keyring.without(key_id)
    save_keyring(keyring, keys.file_path)
    keys.reload()
    audit.record("keys.retire", "key", key_id)
    return keyring


def rotation_progress(rotation_id):
    """(values done, values in all) of a rotation."""
    rotation = db.session.get(KeyRotation, rotation_id)
    return (rotation.done, rotation.total) if rotation else (0, 0)


def queue_rotation(rotation):
    """Make sure a job works on ``rotation``: queue one (after commit) unless one is live."""
    if rotation.status != "running" or job_is_live(rotation.job_id):
        return None
    rotation.job_id = f"rotate-keys-{rotation.id}-{uuid.uuid4().hex[:8]}"
    enqueue("workers.jobs.rotate_keys", rotation.id, queue="maintenance", job_id=rotation.job_id,
            retries=0, timeout=ROTATION_JOB_TIMEOUT)
    return rotation.job_id
