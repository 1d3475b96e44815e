"""The import wizard over HTTP with a real worker: upload, map, progress, rejects; limits,
permissions, a worker killed half-way, and a leak scan of Redis, logs and the instance folder."""
import io
import random
import re
import time

import pytest
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import create_engine, func, select, text

from crm.extensions import db
from crm.models import Contact, ImportRow, ImportRun
from crm.redis_conn import get_redis
from tests.auth_helpers import csrf_token
from tests.conftest import kill_tree
from tests.integration.leak_jobs import markers
from tests.integration.test_leak_scan import hits, needles_of, scan_everything, sql_logged  # noqa: F401
from workers.periodic import resume_imports

HTMX = {"HX-Request": "true"}


def upload(client, content, name="sheet.csv"):
    token = csrf_token(client, "/imports/")
    return client.post("/imports/", data={"csrf_token": token, "encoding": "auto",
                                          "sheet": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def map_and_run(client, run_id, **fields):
    mapping = db.session.get(ImportRun, run_id).mapping
    page = client.get(f"/imports/{run_id}/map").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "has_header": "y", "region": "PL", "meeting_id": ""}
    data.update({f"col_{k}": v for k, v in mapping.items()})
    data.update(fields)
    return client.post(f"/imports/{run_id}/map", data=data)


def sheet_of(people, broken=1):
    lines = ["Name;Email;Phone;City;Path"]
    lines += [f"{p['full_name']};{p['email']};{p['phone']};{p['city']};volunteer" for p in people]
    lines += [f"Broken Person {n};not-an-email;;;" for n in range(broken)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
def test_wizard_with_a_real_worker_leaks_nothing(sql_logged, signed_in, run_worker, app, backend, backend_urls,  # noqa: F811
                                                 captured_logs, instance_dir, subprocess_env):
    subprocess_env["IMPORT_BATCH"] = "2"  # more than one batch: the rows are prepared in a second process (0029)
    seed = random.SystemRandom().randrange(10 ** 9)
    people = [markers(seed + n) for n in range(3)]
    needles = set().union(*(needles_of(p) for p in people))
    client = signed_in("coordinator")
    response = upload(client, sheet_of(people))
    assert response.status_code == 302
    run_id = db.session.scalar(select(ImportRun.id))
    assert db.session.get(ImportRun, run_id).mapping == {"0": "full_name", "1": "email", "2": "phone", "3": "city", "4": "paths"}
    page = client.get(f"/imports/{run_id}/map").get_data(as_text=True)
    assert people[0]["full_name"] in page  # the preview shows the first rows
    assert map_and_run(client, run_id).status_code == 302
    queued = client.get(f"/imports/{run_id}").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in queued and "queued" in queued
    outputs = [run_worker("default")]
    db.session.remove()
    panel = client.get(f"/imports/{run_id}", headers=HTMX).get_data(as_text=True)
    assert "hx-trigger" not in panel and "4 of 4 rows done, 1 rejected" in panel
    rejects = client.get(f"/imports/{run_id}/rejects.csv")
    assert rejects.status_code == 200 and b"not-an-email" in rejects.data
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 3
    stores = scan_everything(backend, backend_urls[0], captured_logs, outputs, instance_dir)
    assert {store: hits(blob, needles) for store, blob in stores.items()
            if store in ("redis", "logs", "processes", "instance folder")} == {
        "redis": [], "logs": [], "processes": [], "instance folder": []}


def test_upload_over_the_limit_is_a_clear_413(signed_in, app, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1024 * 1024)
    client = signed_in("coordinator")
    response = upload(client, b"Name\n" + b"Jan Kowalski\n" * 120_000)
    assert response.status_code == 413
    assert "larger than 1 MB" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0


def test_bad_file_rerenders_the_form_with_the_reason(signed_in):
    client = signed_in("coordinator")
    response = upload(client, b"Name,Email\n\"Jan,jan@example.org\n", "q.csv")
    assert response.status_code == 400
    assert "never closed" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0


def test_mapping_errors_are_shown_and_nothing_starts(signed_in):
    client = signed_in("coordinator")
    upload(client, b"Name;Email\nJan Kowalski;jan@example.org\n")
    run_id = db.session.scalar(select(ImportRun.id))
    response = map_and_run(client, run_id, col_0="", col_1="email")
    assert response.status_code == 400
    assert "map a column to the name" in response.get_data(as_text=True)
    db.session.remove()
    assert db.session.scalar(select(ImportRun.status)) == "uploaded"


def test_staff_may_not_import_and_imports_are_private(signed_in):
    assert signed_in("staff").get("/imports/").status_code == 403
    owner = signed_in("coordinator")
    upload(owner, b"Name\nJan Kowalski\n")
    run_id = db.session.scalar(select(ImportRun.id))
    other = signed_in("coordinator")
    assert other.get(f"/imports/{run_id}").status_code == 404
    assert other.get(f"/imports/{run_id}/map").status_code == 404
    assert signed_in("admin").get(f"/imports/{run_id}/map").status_code == 200


ROWS = 1500
BATCH = 10


@pytest.mark.slow
def test_killed_worker_resumes_without_duplicates(signed_in, start_worker, run_worker, app, backend_urls):
    lines = ["Name;Email;Phone"] + [f"Person Numer{n:05d};p{n}@example.org;" for n in range(ROWS)]
    client = signed_in("coordinator")
    upload(client, ("\n".join(lines) + "\n").encode())
    run_id = db.session.scalar(select(ImportRun.id))
    map_and_run(client, run_id)
    engine = create_engine(backend_urls[0])
    try:
        worker = start_worker("default", env={"IMPORT_BATCH": str(BATCH)})
        deadline = time.monotonic() + 180  # bounds the wait only
        done = 0
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.execute(text("SELECT done FROM import_run")).scalar()
            if done >= 200:
                kill_tree(worker.pid)
                worker.wait(timeout=30)
                break
            time.sleep(0.01)
        with engine.connect() as conn:
            status, done, cursor = conn.execute(text("SELECT status, done, cursor FROM import_run")).first()
            contacts = conn.execute(text("SELECT count(*) FROM contact")).scalar()
            outcomes = conn.execute(text("SELECT count(*) FROM import_row")).scalar()
    finally:
        engine.dispose()
    print(f"\n[figure] import killed at {done}/{ROWS} rows (batch {BATCH})")
    assert status == "running" and 200 <= done < ROWS
    assert contacts == outcomes == done  # contacts, outcomes and cursor committed together
    StartedJobRegistry("default", connection=get_redis(app), serializer=JSONSerializer).cleanup(
        timestamp=time.time() + 3600)
    db.session.remove()
    assert resume_imports() == {"queued": 1}  # the cron entry finds the abandoned import
    assert resume_imports() == {"queued": 0}
    run_worker("default")
    db.session.remove()
    finished = db.session.get(ImportRun, run_id)
    assert (finished.status, finished.done, finished.created) == ("done", ROWS, ROWS)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == ROWS
    assert db.session.scalar(select(func.count(func.distinct(ImportRow.record)))) == ROWS


def test_a_large_upload_is_never_spooled_to_a_temporary_file(signed_in, monkeypatch):
    import werkzeug.formparser

    spooled = []

    class Recording(werkzeug.formparser.SpooledTemporaryFile):
        def __init__(self, *args, **kwargs):
            spooled.append(kwargs.get("max_size"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", Recording)
    client = signed_in("coordinator")
    body = b"Name;Email\n" + b"".join(b"Person Nr%06d;p%d@example.org\n" % (n, n) for n in range(30_000))
    assert len(body) > 600 * 1024
    assert upload(client, body).status_code == 302
    assert spooled == []


def test_a_run_that_fails_says_so_and_is_not_resumed(signed_in, run_worker, app):
    from crm.services import files

    client = signed_in("coordinator")
    upload(client, b"Name;Email\nJan Kowalski;jan@example.org\n")
    run_id = db.session.scalar(select(ImportRun.id))
    file_id = db.session.scalar(select(ImportRun.file_id))
    map_and_run(client, run_id)
    path = files.path_of(file_id)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 1  # the stored upload is damaged after the check at upload time
    path.write_bytes(bytes(raw))
    run_worker("default")
    db.session.remove()
    run = db.session.get(ImportRun, run_id)
    assert (run.status, run.error, run.done) == ("failed", "FileIntegrityError", 0)
    assert "The import stopped on an error" in client.get(f"/imports/{run_id}").get_data(as_text=True)
    assert resume_imports() == {"queued": 0}
