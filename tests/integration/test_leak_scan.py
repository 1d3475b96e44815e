"""Leak scan: people with unique marker values go through the service, a job and a rotation;
then the raw stores are read byte by byte, and no marker may be found anywhere.

Scanned: the SQLite file and its -wal (SQLite), every row of every table as text and a
``pg_dump`` (PostgreSQL), every Redis key and value of our database (zlib-compressed RQ
payloads unpacked), the instance folder, the captured log records of this process, and the
output of every CLI and worker process. A canary written in the clear on purpose must be
found by each scanner, so a scanner that reads nothing fails the test.
"""
import logging
import random
import re
import shutil
import subprocess
import uuid
import zlib
from pathlib import Path

import pytest
from flask import current_app
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import inspect, text

from crm.extensions import db
from crm.models import Contact, Meeting, Outbox
from crm.redis_conn import get_redis
from crm.security.crypto import crypto
from crm.security.normalize import normalize_email, normalize_phone
from crm.services import lookup
from crm.services.contacts import ContactData, create_contact, move_stage
from tests.integration.leak_jobs import markers

SERVICE_PEOPLE = 3


def needles_of(values):
    """Every form a marked value could leak in: as typed, normalised, case-folded, hex."""
    found = set()
    for word in re.findall(r"Mrk[a-z]{10}", " ".join(values.values()), re.IGNORECASE):
        for variant in (word, word.lower(), word.upper()):
            found.add(variant.lower())
            found.add(variant.encode().hex())
    email = normalize_email(values["email"])
    phone = normalize_phone(values["phone"], "PL")
    assert email and phone, "the marker values must be valid to be indexed"
    for form in (values["email"], email, phone, phone[1:], values["phone"]):
        found.add(form.lower())
        found.add(form.encode().hex())
    return found


def hits(blob, needles):
    haystack = blob.lower()
    return sorted(n for n in needles if n.encode() in haystack)


# -- readers of the raw stores ---------------------------------------------------------

def sqlite_bytes(database_url):
    """The database file and its -wal, read by another process.

    Never open these files in this process: closing any descriptor of the database file
    drops this process's POSIX locks on it, and SQLite in another process may then
    delete the -wal and -shm under our open connections.
    """
    path = Path(database_url.removeprefix("sqlite:///"))
    files = [str(p) for p in (path, Path(f"{path}-wal")) if p.exists()]
    result = subprocess.run(["cat", *files], capture_output=True, timeout=60, check=True)
    return result.stdout


def postgres_rows_text():
    chunks = []
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for (row,) in conn.execute(text(f'SELECT t::text FROM "{table}" t')):
                chunks.append(row)
    return "\n".join(chunks).encode()


def postgres_dump(database_url):
    if shutil.which("pg_dump") is None:
        return b""
    url = re.sub(r"^postgresql\+\w+://", "postgresql://", database_url)
    result = subprocess.run(["pg_dump", "--data-only", f"--dbname={url}"], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-500:]
    return result.stdout


def _unpacked(value):
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value) + b"\n" + zlib.decompress(value)
        except zlib.error:
            return bytes(value)
    return str(value).encode()


def redis_bytes(client):
    """Every key and value of our Redis database, read by type, plus each key's DUMP."""
    chunks = []
    for key in client.scan_iter(count=500):
        kind = client.type(key).decode()
        chunks.append(key)
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [x for pair in client.hgetall(key).items() for x in pair]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [x for _, fields in client.xrange(key) for pair in fields.items() for x in pair]
        else:
            values = []
        chunks.extend(_unpacked(v) for v in values if v is not None)
        chunks.append(client.dump(key) or b"")
    return b"\n".join(chunks)


def folder_bytes(folder):
    return b"".join(p.read_bytes() for p in Path(folder).rglob("*") if p.is_file() and not p.is_socket())


def scan_everything(backend, database_url, captured_logs, outputs, instance_dir):
    """{store: raw bytes} of every place a leak could land."""
    stores = {
        "redis": redis_bytes(get_redis(current_app)),
        "logs": "\n".join(captured_logs).encode(),
        "processes": "\n".join(outputs).encode(),
        "instance folder": folder_bytes(instance_dir),
    }
    if backend == "sqlite":
        stores["sqlite file + wal"] = sqlite_bytes(database_url)
    else:
        stores["postgres rows"] = postgres_rows_text()
        stores["pg_dump"] = postgres_dump(database_url)
    return stores


# -- the test --------------------------------------------------------------------------

@pytest.fixture
def sql_logged():
    """Log every SQL statement with its parameters: what the database was sent is scanned too."""
    logger = logging.getLogger("sqlalchemy.engine")
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(previous)


@pytest.mark.slow
def test_no_marker_anywhere(sql_logged, app, backend, backend_urls, instance_dir, captured_logs, flask_cli, run_worker):
    outputs = []
    seed = random.SystemRandom().randrange(10 ** 9)
    people = [markers(seed + n) for n in range(SERVICE_PEOPLE + 1)]
    needles = set().union(*(needles_of(p) for p in people))

    # Through the service, as a request or an import would.
    created = []
    for values in people[:SERVICE_PEOPLE]:
        result = create_contact(ContactData(**values, paths=("volunteering",)))
        created.append(result.contact.id)
    db.session.commit()
    move_stage(created[0], "volunteering", "contacted")
    db.session.commit()

    # Through a job in a real worker: the job creates the last person from its seed.
    Queue("default", connection=get_redis(app), serializer=JSONSerializer).enqueue(
        "tests.integration.leak_jobs.create_marked_contact", seed + SERVICE_PEOPLE)
    outputs.append(run_worker("default"))
    db.session.remove()
    job_made = lookup.find_by_email(people[-1]["email"])
    assert len(job_made) == 1 and job_made[0].full_name == people[-1]["full_name"]

    # Duplicate check and lookups decrypt the values: still nothing may leak.
    again = create_contact(ContactData(**people[1]))
    assert [c.contact.id for c in again.candidates] == [created[1]]
    db.session.rollback()
    for values in people:
        assert len(lookup.find_by_phone(values["phone"])) == 1
        assert len(lookup.find_by_name(values["full_name"])) == 1

    # A rotation job in a real worker re-encrypts every marker; then the operator checks.
    result = flask_cli("keys", "rotate", "--no-wait")
    assert result.returncode == 0, result.stderr
    outputs.append(result.stdout + result.stderr)
    outputs.append(run_worker("maintenance"))
    verify = flask_cli("keys", "verify")
    assert verify.returncode == 0, verify.stdout
    outputs.append(verify.stdout + verify.stderr)
    db.session.remove()
    crypto().refresh_if_changed()  # the CLI wrote a new active key to the key file
    contact = db.session.get(Contact, created[2])
    assert contact.notes == people[2]["notes"]

    # Canaries written in the clear on purpose: each scanner must find them.
    canary_word = f"Cnry{uuid.uuid4().hex[:12]}"
    canary_blob = f"Cnrb{uuid.uuid4().hex[:12]}"
    db.session.add(Meeting(city="Warszawa", country="PL", venue=canary_word))
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(Outbox.__table__.insert().values(
            id=uuid.uuid4(), idempotency_key="leak-scan-canary", kind="canary", status="pending",
            attempts=0, body_ct=canary_blob.encode()))
    get_redis(app).set("leakscan:canary", canary_word)
    logging.getLogger("tests.leakscan").warning("canary %s", canary_word)

    stores = scan_everything(backend, backend_urls[0], captured_logs, outputs, instance_dir)
    canaries = {canary_word.lower(), canary_word.encode().hex(), canary_blob.lower(), canary_blob.encode().hex()}
    for store in ("redis", "logs"):
        assert hits(stores[store], canaries), f"the {store} scanner does not see a canary"
    for store in ("sqlite file + wal",) if backend == "sqlite" else ("postgres rows", "pg_dump"):
        found = hits(stores[store], canaries)
        assert canary_word.lower() in found, f"{store} scanner misses text"
        assert {canary_blob.lower(), canary_blob.encode().hex()} & set(found), f"{store} scanner misses bytes"

    sizes = {store: len(blob) for store, blob in stores.items()}
    leaks = {store: hits(blob, needles) for store, blob in stores.items()}
    print(f"\n[figure] leak scan ({backend}): {len(people)} marked people, {len(needles)} needles, "
          f"bytes scanned {sizes}; markers found: {sum(len(v) for v in leaks.values())}")
    assert all(size > 0 for store, size in sizes.items() if store != "instance folder"), sizes
    assert leaks == {store: [] for store in stores}
