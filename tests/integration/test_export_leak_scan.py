"""Leak scan of an export: built by a real worker, nothing of its content in Redis, logs or on disk.

The contacts carry unique markers; the export is requested over HTTP, built by
``python -m workers.worker`` from the job's id alone, stored encrypted, then
downloaded. Every store is scanned before and after the download; the
downloaded file itself must hold the markers (so the scan could fail).
"""
import random
import re

import pytest

from crm.extensions import db
from crm.models.export import Export
from crm.services import export_canary
from crm.services.contacts import ContactData, create_contact
from tests.auth_helpers import csrf_token
from tests.integration.leak_jobs import markers
from tests.integration.test_leak_scan import hits, needles_of, scan_everything, sql_logged  # noqa: F401

COLUMNS = ["full_name", "email", "phone", "messenger", "city", "country", "languages", "skills", "notes",
           "paths", "meetings"]


@pytest.mark.slow
def test_export_content_never_leaks(sql_logged, app, backend, backend_urls, instance_dir,  # noqa: F811
                                    captured_logs, signed_in, run_worker):
    seed = random.SystemRandom().randrange(10 ** 9)
    people = [markers(seed + n) for n in range(3)]
    needles = set().union(*(needles_of(p) for p in people))
    for values in people:
        create_contact(ContactData(**values, paths=("volunteering",)))
    db.session.commit()

    client = signed_in("coordinator")
    token = csrf_token(client, "/exports/new")
    response = client.post("/exports/new", data={"csrf_token": token, "status": "any", "assignee": "any",
                                                 "columns": COLUMNS, "format": "xlsx"})
    assert response.status_code == 302
    outputs = [run_worker("default")]
    db.session.remove()
    export = db.session.query(Export).one()
    assert export.status == "ready" and export.row_count == 3
    canary = export_canary.canary_of(export)
    needles |= {canary["email"].lower(), canary["email"].encode().hex(), canary["phone"]}

    stores = scan_everything(backend, backend_urls[0], captured_logs, outputs, instance_dir)
    found = {name: hits(blob, needles) for name, blob in stores.items()}
    assert not any(found.values()), found

    page = client.get("/exports/").get_data(as_text=True)
    action = re.search(r'action="(/exports/[^"]+/download)"', page).group(1)
    response = client.post(action, data={"csrf_token": csrf_token(client, "/exports/")})
    assert response.status_code == 200
    from io import BytesIO

    from openpyxl import load_workbook

    cells = " ".join(str(c.value) for row in load_workbook(BytesIO(response.data)).active.iter_rows()
                     for c in row if c.value)
    assert all(p["email"] in cells and p["full_name"] in cells for p in people)  # the scan could fail
    db.session.remove()
    stores = scan_everything(backend, backend_urls[0], captured_logs, outputs, instance_dir)
    found = {name: hits(blob, needles) for name, blob in stores.items()}
    assert not any(found.values()), found
