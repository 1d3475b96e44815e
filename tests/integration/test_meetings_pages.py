"""Meeting pages over HTTP: create/edit with errors in place, quick capture with and without htmx."""
import re
from datetime import datetime

import pytest

from crm.extensions import db
from crm.models import Attendance, Contact, Meeting
from crm.services.meetings import MeetingData, create_meeting
from tests.auth_helpers import csrf_token

HTMX = {"HX-Request": "true"}
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def meta_csrf(client, path):
    """The CSRF token of the page's layout (for pages without a form of their own)."""
    return META_CSRF.search(client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def meeting(app):
    made = create_meeting(MeetingData(city="Wrocław", country="PL", starts_at=datetime(2026, 11, 20, 18, 30)))
    db.session.commit()
    return made


def capture_url(meeting):
    return f"/meetings/{meeting.id}/capture"


def post_capture(client, meeting, data, htmx=False):
    token = csrf_token(client, f"/meetings/{meeting.id}")
    return client.post(capture_url(meeting), data={**data, "csrf_token": token}, headers=HTMX if htmx else {})


def test_create_and_edit_a_meeting(signed_in):
    client = signed_in("coordinator")
    token = csrf_token(client, "/meetings/new")
    response = client.post("/meetings/new", data={
        "csrf_token": token, "city": "Vilnius", "country": "lt", "starts_at": "2026-12-01T18:00",
        "venue": "Library", "expected_attendance": "60", "host_ids": [str(client.user.id)],
    })
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.query(Meeting).one()
    assert (stored.city, stored.country, [h.login for h in stored.hosts]) == ("Vilnius", "LT", [client.user.login])
    page = client.get(f"/meetings/{stored.id}/edit").get_data(as_text=True)
    assert 'value="2026-12-01T18:00"' in page
    response = client.post(f"/meetings/{stored.id}/edit", data={
        "csrf_token": token, "city": "Vilnius", "country": "LT", "starts_at": "2026-12-01T18:00",
        "actual_attendance": "57",
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Meeting, stored.id).actual_attendance == 57
    assert "Vilnius" in client.get("/meetings/").get_data(as_text=True)


@pytest.mark.parametrize("field, value", [
    ("city", ""), ("city", "x" * 10_000), ("country", "Poland"), ("starts_at", "20000-01-01T10:00"),
    ("expected_attendance", "lots"),
])
def test_bad_meeting_input_is_shown_next_to_the_field_and_kept(signed_in, field, value):
    client = signed_in("coordinator")
    data = {"csrf_token": csrf_token(client, "/meetings/new"), "city": "Kaunas", "country": "LT",
            "starts_at": "2026-12-01T18:00", "venue": "Kept venue"}
    data[field] = value
    response = client.post("/meetings/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="{field}-error"' in page
    assert "Kept venue" in page
    assert db.session.query(Meeting).count() == 0


def test_staff_see_meetings_but_may_not_create_or_capture(signed_in, meeting):
    client = signed_in("staff")
    assert client.get("/meetings/").status_code == 200
    page = client.get(f"/meetings/{meeting.id}")
    assert page.status_code == 200 and 'id="capture"' not in page.get_data(as_text=True)
    assert client.get("/meetings/new").status_code == 403
    token = meta_csrf(client, f"/meetings/{meeting.id}")
    assert client.post(capture_url(meeting), data={"csrf_token": token, "full_name": "X Y"}).status_code == 403


def test_unknown_meeting_is_404(signed_in):
    client = signed_in("coordinator")
    assert client.get("/meetings/00000000-0000-0000-0000-000000000000").status_code == 404


def test_capture_without_javascript_redirects_with_a_count(signed_in, meeting):
    client = signed_in("coordinator")
    response = post_capture(client, meeting, {"full_name": "Anna Testowa", "phone": "600 100 200",
                                              "paths": ["volunteering"], "consent": "y"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#capture")
    page = client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert "1 person recorded here" in page and "Anna Testowa" in page
    contact = db.session.query(Contact).one()
    assert contact.phone == "+48600100200" and contact.consent_version


def test_capture_with_htmx_returns_a_fresh_panel_and_the_running_count(signed_in, meeting):
    client = signed_in("coordinator")
    for n, name in enumerate(["Anna Testowa", "Borys Testowy"], start=1):
        response = post_capture(client, meeting, {"full_name": name, "email": f"p{n}@example.org"}, htmx=True)
        body = response.get_data(as_text=True)
        assert response.status_code == 200
        assert body.lstrip().startswith('<section id="capture"')
        assert f"Saved {name}." in body
        assert re.search(rf"{n} (person|people) recorded here", body)
        assert 'name="full_name" type="text" value=""' in body and "autofocus" in body
        assert '<section id="attendees" class="card" aria-labelledby="met-title" hx-swap-oob="true">' in body
        assert name in body.split('id="attendees"')[1]


def test_capture_duplicate_then_attach_over_http(signed_in, meeting, make_contact):
    existing = make_contact("Łukasz Kowalski", phone="+48 600 200 300")
    client = signed_in("coordinator")
    typed = {"full_name": "Lukasz Kowalski", "phone": "600200300", "note": "second meeting"}
    warned = post_capture(client, meeting, typed, htmx=True)
    body = warned.get_data(as_text=True)
    assert "This person may already be known" in body
    assert f'name="attach_to" value="{existing.id}"' in body
    assert 'value="Lukasz Kowalski"' in body  # what was typed is kept
    assert db.session.query(Attendance).count() == 0

    attached = post_capture(client, meeting, {**typed, "attach_to": str(existing.id)}, htmx=True)
    assert "Added this meeting to Łukasz Kowalski." in attached.get_data(as_text=True)
    assert db.session.query(Contact).count() == 1
    assert db.session.query(Attendance).filter_by(contact_id=existing.id, meeting_id=meeting.id).count() == 1


def test_capture_bad_input_keeps_the_form(signed_in, meeting):
    client = signed_in("coordinator")
    response = post_capture(client, meeting, {"full_name": "Kept Name", "phone": "letters only",
                                              "city": "Kept City"}, htmx=True)
    body = response.get_data(as_text=True)
    assert 'id="phone-error"' in body and 'aria-invalid="true"' in body
    assert 'value="Kept Name"' in body and 'value="Kept City"' in body
    assert db.session.query(Contact).count() == 0


def test_restricted_paths_and_people_hidden_on_the_meeting_page(signed_in, meeting):
    cleared = signed_in("coordinator", clearance=True)
    post_capture(cleared, meeting, {"full_name": "Secret Soldier", "email": "s@example.org",
                                    "paths": ["combat_service"]})
    post_capture(cleared, meeting, {"full_name": "Open Volunteer", "email": "v@example.org",
                                    "paths": ["volunteering"]})
    full = cleared.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert "Secret Soldier" in full and "Combat service" in full and 'value="combat_service"' in full

    plain = signed_in("coordinator")
    page = plain.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert "Open Volunteer" in page
    assert "Secret Soldier" not in page
    assert "Combat service" not in page and "combat_service" not in page and "Reserve training" not in page
    assert "1 person recorded here" in page
    refused = post_capture(plain, meeting, {"full_name": "Try Hidden", "email": "t@example.org",
                                            "paths": ["combat_service"]})
    assert refused.status_code == 400 and 'id="paths-error"' in refused.get_data(as_text=True)


def test_duplicate_and_attach_work_without_javascript(signed_in, meeting, make_contact):
    existing = make_contact("Jonas Testas", email="jonas@example.org")
    client = signed_in("coordinator")
    typed = {"full_name": "Jonas Testas", "email": "JONAS@example.org", "city": "Vilnius"}
    warned = post_capture(client, meeting, typed)
    body = warned.get_data(as_text=True)
    assert warned.status_code == 200 and "<html" in body  # the whole meeting page, candidates inside
    assert "This person may already be known" in body and 'value="Vilnius"' in body
    attached = post_capture(client, meeting, {**typed, "attach_to": str(existing.id)})
    assert attached.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, existing.id).city == "Vilnius"
    assert db.session.query(Contact).count() == 1
