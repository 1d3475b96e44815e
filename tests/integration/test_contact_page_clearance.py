"""Every workspace page, walked by a coordinator without clearance: no restricted path, person or count."""
import re
from datetime import datetime

import pytest

from crm.extensions import db
from crm.services.capture import CaptureData, capture
from crm.services.meetings import MeetingData, create_meeting
from tests.auth_helpers import csrf_token

RESTRICTED_TEXTS = ("combat_service", "reserve_training", "Combat service", "Reserve training")


@pytest.fixture
def scene(make_user):
    """A meeting where a cleared coordinator met three people, one of them on a restricted path only."""
    cleared = make_user("cleared", "coordinator", clearance=True)[0]
    meeting = create_meeting(MeetingData(city="Wrocław", country="PL", starts_at=datetime(2026, 11, 20, 18)))
    db.session.commit()
    people = {}
    for key, name, paths in [("secret", "Secret Soldier", ("combat_service",)),
                             ("mixed", "Mixed Person", ("volunteering", "reserve_training")),
                             ("open", "Open Volunteer", ("joint_projects",))]:
        people[key] = capture(meeting, CaptureData(full_name=name, email=f"{key}@example.org", paths=paths),
                              cleared, "v1", create_anyway=True).contact
        db.session.commit()
    return meeting, people


def assert_clean(body, where):
    body = re.sub(r'<input[^>]*name="q"[^>]*>', "", body)  # the search box keeps what was typed
    assert "Secret Soldier" not in body, where
    for text in RESTRICTED_TEXTS:
        assert text not in body, (where, text)


def test_no_page_shows_restricted_paths_people_or_counts(signed_in, scene):
    meeting, people = scene
    client = signed_in("coordinator")
    pages = {
        "meetings": client.get("/meetings/"),
        "meeting": client.get(f"/meetings/{meeting.id}"),
        "triage": client.get("/triage/"),
        "triage by meeting": client.get(f"/triage/?meeting={meeting.id}"),
        "triage, any status": client.get("/triage/?status=any&assignee=any"),
        "contact": client.get(f"/contacts/{people['mixed'].id}"),
        "contact edit": client.get(f"/contacts/{people['mixed'].id}/edit"),
    }
    token = csrf_token(client, "/contacts/")
    for query in ("Secret Soldier", "secret@example.org", "Mixed"):
        pages[f"search {query}"] = client.post("/contacts/", data={"q": query, "csrf_token": token})
    for where, response in pages.items():
        assert response.status_code == 200, where
        assert_clean(response.get_data(as_text=True), where)

    meeting_page = pages["meeting"].get_data(as_text=True)
    assert "2 people recorded here" in meeting_page
    counts = re.findall(r"<li><strong>(\d+)</strong> ([^<]+)</li>", meeting_page)
    assert ("2", "in total") in counts and ("1", "Volunteering") in counts
    assert "2 contacts match" in pages["triage"].get_data(as_text=True)
    assert "0 people found" in pages["search Secret Soldier"].get_data(as_text=True)
    assert client.get(f"/contacts/{people['secret'].id}").status_code == 404
    assert client.get(f"/contacts/{people['secret'].id}/edit").status_code == 404


def test_the_cleared_coordinator_sees_all_of_it(signed_in, scene):
    meeting, people = scene
    client = signed_in("coordinator", clearance=True)
    page = client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert "3 people recorded here" in page and "Secret Soldier" in page and "Combat service" in page
    assert "3 contacts match" in client.get("/triage/").get_data(as_text=True)
    assert "Reserve training" in client.get(f"/contacts/{people['mixed'].id}").get_data(as_text=True)
