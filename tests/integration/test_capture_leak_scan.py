"""Leak scan of the coordinator's workspace: marked people go through every page, nothing leaks.

Capture at a meeting (with htmx), the duplicate warning, attach with a note, the
contact page, an edit, a note, searches, the triage queue and an assignment; then
the database (file or every row and a dump), Redis, the instance folder and the
logs (SQL statements with their parameters included) are read raw for the markers.
"""
import logging
import random
import re
import uuid
from datetime import datetime

import pytest

from crm.extensions import db
from crm.models import Contact, Meeting
from crm.services.meetings import MeetingData, create_meeting
from tests.auth_helpers import csrf_token
from tests.integration.leak_jobs import markers
from tests.integration.test_leak_scan import hits, needles_of, scan_everything, sql_logged  # noqa: F401

HTMX = {"HX-Request": "true"}


@pytest.mark.slow
def test_workspace_flows_leak_no_marker(signed_in, make_user, sql_logged, backend, backend_urls, captured_logs,
                                        instance_dir):
    seed = random.SystemRandom().randrange(10 ** 9)
    first, second = markers(seed), markers(seed + 1)
    needles = needles_of(first) | needles_of(second)
    staffer = make_user("staffer", "staff")[0]
    client = signed_in("coordinator")
    meeting = create_meeting(MeetingData(city="Wrocław", country="PL", starts_at=datetime(2026, 11, 20, 18)))
    db.session.commit()
    capture_url = f"/meetings/{meeting.id}/capture"
    token = csrf_token(client, f"/meetings/{meeting.id}")

    def captured(values, **extra):
        data = {"csrf_token": token, "full_name": values["full_name"], "phone": values["phone"],
                "email": values["email"], "messenger": values["messenger"], "city": values["city"],
                "note": values["notes"], "paths": ["volunteering"], "consent": "y", **extra}
        response = client.post(capture_url, data=data, headers=HTMX)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert "Saved" in captured(first)
    warned = captured({**first, "email": second["email"]})
    assert "This person may already be known" in warned
    contact_id = re.search(r'name="attach_to" value="([0-9a-f-]{36})"', warned).group(1)
    assert "Added this meeting to" in captured({**first, "email": second["email"]}, attach_to=contact_id)
    assert "Saved" in captured(second)

    assert client.get(f"/contacts/{contact_id}").status_code == 200
    edit_page = client.get(f"/contacts/{contact_id}/edit").get_data(as_text=True)
    hidden = dict(re.findall(r'<input id="(version_id|seen)" name="\1" type="hidden" value="([^"]*)">', edit_page))
    hidden["seen"] = hidden["seen"].replace("&#34;", '"')
    edited = client.post(f"/contacts/{contact_id}/edit", data={
        "csrf_token": token, **hidden, "full_name": first["full_name"], "email": first["email"],
        "phone": first["phone"], "messenger": first["messenger"], "city": first["city"],
        "country": first["country"], "skills": first["skills"], "languages": first["languages"],
        "notes": second["notes"]})
    assert edited.status_code == 302
    assert client.post(f"/contacts/{contact_id}/notes",
                       data={"csrf_token": token, "body": second["skills"]}).status_code == 302
    for query in (first["email"], first["phone"], first["full_name"].split()[0]):
        found = client.post("/contacts/", data={"csrf_token": token, "q": query}).get_data(as_text=True)
        assert f"/contacts/{contact_id}" in found
    assert client.get(f"/triage/?meeting={meeting.id}").status_code == 200
    assigned = client.post("/triage/act", data={"csrf_token": token, "action": "assign", "scope": "row",
                                                "contact_ids": contact_id, "assignee": str(staffer.id)},
                           headers=HTMX)
    assert "1 contact assigned." in assigned.get_data(as_text=True)
    db.session.remove()
    assert db.session.get(Contact, uuid.UUID(contact_id)).notes == second["notes"]

    canary = f"Cnry{uuid.uuid4().hex[:12]}"
    db.session.add(Meeting(city="Kraków", country="PL", venue=canary))
    db.session.commit()
    logging.getLogger("tests.leakscan").warning("canary %s", canary)
    stores = scan_everything(backend, backend_urls[0], captured_logs, [], instance_dir)
    database = "sqlite file + wal" if backend == "sqlite" else "postgres rows"
    assert hits(stores[database], {canary.lower()}) and hits(stores["logs"], {canary.lower()}), \
        "a scanner reads nothing"
    leaks = {store: hits(blob, needles) for store, blob in stores.items()}
    assert leaks == {store: [] for store in stores}
