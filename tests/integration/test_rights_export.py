"""Downloading one's own data: everything about that person, and nothing about anyone else."""
import json

from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent
from tests.integration.rights_helpers import open_session, page_csrf, seed_two_people

BOB_MARKERS = ("Bohdan", "Otherov", "bohdan.other", "700 802", "700802", "bohdan_ot", "Vilnius", "BobSkill",
               "BobNoteMarker", "BobOutcomeMarker")
STAFF_MARKERS = ("caller-sign-7", "MeetingSecretNote", "Hall 3")


def _download(client, fmt):
    response = client.post("/my-data/export", data={"csrf_token": page_csrf(client), "format": fmt})
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return response.get_data(as_text=True)


def test_the_json_export_holds_everything_about_the_person(client, make_contact, make_user):
    alice, bob, staff, meeting = seed_two_people(make_contact, make_user)
    open_session(client, alice)
    data = json.loads(_download(client, "json"))
    person = data["contact"]
    assert person["full_name"] == "Alisa Markerova" and person["email"] == "alisa.marker@example.org"
    assert person["phone"] == "+48 600 700 801" and person["messenger"] == "@alisa_mk"
    assert (person["city"], person["country"], person["languages"]) == ("Gdańsk", "Poland", "Polish")
    assert person["skills"] == "Driving AlisaSkill" and person["source"] == "self"
    assert person["availability"] == "AlisaAvailable on Sundays"
    assert person["preferred_locale"] == "pl" and person["id"] == str(alice.id)
    assert data["consent"]["notice_version"] == "2026-01" and data["consent"]["given_at"]
    paths = {p["path"]: p for p in data["paths"]}
    assert set(paths) == {"volunteering", "combat_service"}, "their own restricted path is theirs to see"
    assert paths["volunteering"]["stage"] == "contacted"
    assert [(h["from"], h["to"]) for h in paths["volunteering"]["history"]] == [
        (None, "interested"), ("interested", "contacted")]
    assert data["meetings_attended"] == [{"city": "Warszawa", "country": "PL",
                                          "date": data["meetings_attended"][0]["date"]}]
    assert data["meetings_attended"][0]["date"].startswith("2026-05-17")
    assert [n["text"] for n in data["notes"]] == ["AliceNoteMarker: prefers evenings"]
    assert data["notes"][0]["author"] == "staff"
    (followup,) = data["follow_ups"]
    assert (followup["kind"], followup["status"], followup["outcome"]) == ("call", "done", "AliceOutcomeMarker")
    assert followup["due"].startswith("2026-05-20") and followup["completed"]
    actions = [e["action"] for e in data["record_history"]]
    assert "contact.create" in actions and "contact.note" in actions and "contact.view" in actions
    assert "has_assigned_coordinator" in person


def test_neither_format_holds_anyone_else_or_staff_identities(client, make_contact, make_user):
    alice, bob, staff, meeting = seed_two_people(make_contact, make_user)
    open_session(client, alice)
    for fmt in ("json", "html"):
        body = _download(client, fmt)
        assert "Alisa Markerova" in body and "AliceNoteMarker" in body and "AlisaAvailable on Sundays" in body
        for marker in (*BOB_MARKERS, *STAFF_MARKERS, str(bob.id), str(staff.id), str(meeting.id)):
            assert marker not in body, (fmt, marker)
    page = client.get("/my-data/me").get_data(as_text=True)
    assert "AliceOutcomeMarker" in page
    for marker in (*BOB_MARKERS, *STAFF_MARKERS):
        assert marker not in page, marker


def test_every_view_and_download_is_audited_as_the_data_subject(client, make_contact, make_user):
    alice, *_ = seed_two_people(make_contact, make_user)
    open_session(client, alice)
    _download(client, "json")
    _download(client, "html")
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.target_id == str(alice.id), AuditEvent.actor_id.is_(None))).all()
    kinds = [(e.action, e.details.get("format") or e.details.get("page")) for e in events
             if e.details.get("by") == "data_subject"]
    assert ("contact.export", "json") in kinds and ("contact.export", "html") in kinds
    assert ("contact.view", "overview") in kinds
    assert all("Alisa" not in json.dumps(e.details) for e in events)


def test_the_html_export_is_a_page_that_needs_nothing_else(client, make_contact, make_user):
    alice, *_ = seed_two_people(make_contact, make_user)
    open_session(client, alice)
    html = _download(client, "html")
    assert html.startswith("<!doctype html>") and "<script" not in html and "<link" not in html
