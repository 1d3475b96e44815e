"""A rotation whose worker is killed (-9) half-way resumes and finishes without duplicates."""
import time
import uuid

import pytest
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import create_engine, text

from crm.extensions import db
from crm.models import KeyRotation
from crm.redis_conn import get_redis
from crm.services.demo import seed_contacts
from tests.conftest import kill_tree
from tests.integration.rotation_helpers import assert_rotated, index_counts, snapshot

ROWS = 600
BATCH = 2  # small batches: hundreds of commits, so the kill lands in the middle
KILL_AFTER = 40  # rows committed by the worker before it is killed


def _progress(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT status, done, total FROM key_rotation ORDER BY id DESC")).first()


def _kill_midway(proc, engine, deadline_s=120):
    """SIGKILL the worker's process group once some batches have committed; return (done, total)."""
    deadline = time.monotonic() + deadline_s  # a bound on the wait only, never asserted on
    while time.monotonic() < deadline:
        row = _progress(engine)
        if row is not None and row.done >= KILL_AFTER:
            kill_tree(proc.pid)  # the worker and its work-horse, like a crashed machine
            proc.wait(timeout=30)
            return row.done, row.total
        if proc.poll() is not None:
            pytest.fail(f"worker exited early: {proc.output_path.read_text()[-2000:]}")
        time.sleep(0.01)
    pytest.fail("the rotation made no progress")


@pytest.mark.slow
def test_rotation_killed_halfway_resumes(app, backend_urls, flask_cli, start_worker, run_worker, keyring_file):
    seed_contacts(ROWS, on_batch=lambda done: db.session.commit())
    db.session.commit()
    before, counts = snapshot(), index_counts()
    searchable = [uuid.UUID(row_id) for table, row_id in before if table == "contact"][:20]

    queued = flask_cli("keys", "rotate", "--no-wait")
    assert queued.returncode == 0, queued.stderr
    engine = create_engine(backend_urls[0])
    try:
        worker = start_worker("maintenance", env={"KEY_ROTATION_BATCH": str(BATCH)})
        done_at_kill, total = _kill_midway(worker, engine)
        status, done, total = _progress(engine)
    finally:
        engine.dispose()
    print(f"\n[figure] rotation killed at {done}/{total} rows (batch {BATCH})")
    assert status == "running"
    assert KILL_AFTER <= done < total == ROWS
    assert "Traceback" not in worker.output_path.read_text()

    # Right after the kill RQ still holds the job as started: nothing is queued twice.
    early = flask_cli("keys", "rotate", "--no-wait")
    assert early.returncode == 0, early.stderr
    assert "is already queued or running as job rotate-keys-" in early.stdout

    # RQ marks a job abandoned once its heartbeat expires (about 90 s after the kill);
    # clean the started registry as of that moment instead of sleeping through it.
    connection = get_redis(app)
    registry = StartedJobRegistry("maintenance", connection=connection, serializer=JSONSerializer)
    registry.cleanup(timestamp=time.time() + 3600)

    resumed = flask_cli("keys", "rotate", "--no-wait")
    assert resumed.returncode == 0, resumed.stderr
    rotation_id = db.session.query(KeyRotation.id).scalar()
    assert f"Resuming rotation {rotation_id} at {done}/{total} rows." in resumed.stdout
    run_worker("maintenance")

    db.session.remove()  # end any read transaction: other processes wrote since
    rotation = db.session.get(KeyRotation, rotation_id)
    assert (rotation.status, rotation.done, rotation.total) == ("done", ROWS, ROWS)
    assert db.session.query(KeyRotation).count() == 1
    assert_rotated(2, before, counts, searchable)
    verify = flask_cli("keys", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.slow
def test_periodic_resume_requeues_an_abandoned_rotation(app, make_contact, flask_cli, run_worker):
    """The cron entry queues an unfinished rotation whose job is gone; a worker finishes it."""
    from workers.periodic import resume_key_rotation

    for n in range(5):
        make_contact(f"Ola Kot{chr(97 + n)}", email=f"ola{n}@example.org")
    before, counts = snapshot(), index_counts()
    queued = flask_cli("keys", "rotate", "--no-wait")
    assert queued.returncode == 0, queued.stderr
    get_redis(app).flushdb()  # the job is lost (Redis restarted without persistence)

    resumed = resume_key_rotation()
    db.session.remove()  # end any read transaction: other processes wrote since
    rotation = db.session.query(KeyRotation).one()
    assert resumed == {"rotation": rotation.id, "queued": rotation.job_id}
    assert rotation.job_id.startswith(f"rotate-keys-{rotation.id}-")
    run_worker("maintenance")
    db.session.remove()  # end any read transaction: other processes wrote since
    assert db.session.get(KeyRotation, rotation.id).status == "done"
    assert_rotated(2, before, counts, [uuid.UUID(i) for t, i in before if t == "contact"])
    assert resume_key_rotation() == {"rotation": None}
