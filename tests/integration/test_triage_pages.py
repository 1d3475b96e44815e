"""Triage page over HTTP: filters, pagination, per-row and bulk actions with and without htmx."""
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from crm.extensions import db
from crm.models import AuditEvent, Contact, ContactTriage
from tests.auth_helpers import csrf_token

HTMX = {"HX-Request": "true"}


@pytest.fixture
def people(make_contact):
    return [make_contact(f"Person {n:02d}", email=f"p{n}@example.org",
                         paths=("volunteering",) if n % 2 else ("joint_projects",)) for n in range(1, 6)]


def names(body):
    return re.findall(r">(Person \d\d)</a>", body)


def act(client, data, htmx=False):
    token = csrf_token(client, "/triage/")
    return client.post("/triage/act", data={"csrf_token": token, **data}, headers=HTMX if htmx else {})


def test_queue_oldest_first_filtered_and_paginated(signed_in, people, app, monkeypatch):
    monkeypatch.setitem(app.config, "TRIAGE_PAGE_SIZE", 2)
    client = signed_in("coordinator")
    body = client.get("/triage/").get_data(as_text=True)
    assert names(body) == ["Person 01", "Person 02"]
    assert "Page 1 of 3" in body
    assert names(client.get("/triage/?page=3").get_data(as_text=True)) == ["Person 05"]
    filtered = client.get("/triage/?path=joint_projects").get_data(as_text=True)
    assert names(filtered) == ["Person 02", "Person 04"]
    newest = client.get("/triage/?sort=newest").get_data(as_text=True)
    assert names(newest) == ["Person 05", "Person 04"]


def test_only_the_shown_rows_are_decrypted(signed_in, people, app, monkeypatch):
    from crm.security import fields

    decrypted = []
    real = fields.Encrypted.__get__

    def counting(self, obj, owner=None):
        if obj is not None and self.name == "full_name":
            decrypted.append(obj.id)
        return real(self, obj, owner)

    client = signed_in("coordinator")
    monkeypatch.setitem(app.config, "TRIAGE_PAGE_SIZE", 2)
    monkeypatch.setattr(fields.Encrypted, "__get__", counting)
    client.get("/triage/")
    assert set(decrypted) == {people[0].id, people[1].id}


def test_bad_filters_are_reported_not_crashed(signed_in, people):
    client = signed_in("coordinator")
    for query in ("created_from=20000-01-01", "path=space", "stage=nowhere", "meeting=zzz",
                  "created_from=2026-12-02&created_to=2026-12-01"):
        response = client.get(f"/triage/?{query}")
        assert response.status_code == 400, query
        assert "field-error" in response.get_data(as_text=True), query


def test_row_assign_with_htmx_replaces_the_row(signed_in, make_user, people):
    staffer = make_user("staffer", "staff")[0]
    client = signed_in("coordinator")
    target = people[0]
    response = act(client, {"action": "assign", "scope": "row", "contact_ids": str(target.id),
                            "assignee": str(staffer.id), "query": "status=new&assignee=unassigned"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="row-{target.id}"')
    assert "1 contact assigned." in body and "staffer" in body
    db.session.expire_all()
    assert db.session.get(Contact, target.id).assignee_id == staffer.id
    assert "Person 01" not in names(client.get("/triage/").get_data(as_text=True))


def test_bulk_actions_without_javascript_redirect_back_to_the_same_filters(signed_in, people):
    client = signed_in("coordinator")
    ids = [str(people[1].id), str(people[3].id)]
    response = act(client, {"action": "stage", "contact_ids": ids, "path": "joint_projects",
                            "stage": "contacted", "query": "path=joint_projects&sort=oldest", "page": "1"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/triage/"
    assert dict(parse_qsl(location.query)) == {"path": "joint_projects", "sort": "oldest", "page": "1"}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Stage set for 2 contacts." in page
    assert names(client.get("/triage/?stage=contacted").get_data(as_text=True)) == ["Person 02", "Person 04"]


def test_bulk_not_a_fit_and_snooze_with_htmx_rerender_the_queue(signed_in, people):
    client = signed_in("coordinator")
    response = act(client, {"action": "not_a_fit", "reason": "unreachable",
                            "contact_ids": [str(people[0].id), str(people[1].id)], "query": ""}, htmx=True)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="queue">')
    assert "2 contacts marked not a fit." in body
    assert names(body) == ["Person 03", "Person 04", "Person 05"]
    snoozed = act(client, {"action": "snooze", "until": "2099-01-01", "contact_ids": str(people[2].id)},
                  htmx=True)
    assert "Snooze until" in snoozed.get_data(as_text=True)  # 2099 is too far: the reason is shown
    db.session.expire_all()
    assert db.session.get(ContactTriage, people[2].id) is None


def test_bulk_with_a_hidden_contact_is_404_and_changes_nothing(signed_in, make_contact, people, make_user):
    hidden = make_contact("Hidden Soldier", email="hs@example.org", paths=("combat_service",))
    staffer = make_user("staffer", "staff")[0]
    client = signed_in("coordinator")
    assert "Hidden Soldier" not in client.get("/triage/").get_data(as_text=True)
    response = act(client, {"action": "assign", "assignee": str(staffer.id),
                            "contact_ids": [str(people[0].id), str(hidden.id)]})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Contact, people[0].id).assignee_id is None
    assert db.session.query(AuditEvent).filter_by(action="triage.assign").count() == 0


def test_staff_have_no_triage(signed_in):
    client = signed_in("staff")
    assert client.get("/triage/").status_code == 403


def test_an_old_meeting_and_a_meeting_city_can_be_chosen(signed_in, make_contact):
    from datetime import datetime

    from crm.services.capture import CaptureData, capture
    from crm.services.meetings import MeetingData, create_meeting

    client = signed_in("coordinator")
    oldest = create_meeting(MeetingData(city="Łódź", country="PL", starts_at=datetime(2020, 1, 1, 18)))
    for day in range(1, 52):
        create_meeting(MeetingData(city="Kraków", country="PL", starts_at=datetime(2026, 1, 1 + day % 28, 18)))
    db.session.commit()
    capture(oldest, CaptureData(full_name="Old Timer", email="old@example.org"), client.user, "v1")
    make_contact("Never Met", email="never@example.org")
    db.session.commit()
    assert names_any(client.get(f"/triage/?meeting={oldest.id}")) == ["Old Timer"]
    assert names_any(client.get("/triage/?city=Łódź")) == ["Old Timer"]


def names_any(response):
    assert response.status_code == 200
    return re.findall(r'href="/contacts/[0-9a-f-]{36}">([^<]+)</a>', response.get_data(as_text=True))


def test_a_long_queue_is_counted_up_to_a_cap_and_still_paged(signed_in, people, app, monkeypatch):
    monkeypatch.setattr("crm.services.triage.COUNT_CAP", 3)
    monkeypatch.setitem(app.config, "TRIAGE_PAGE_SIZE", 2)
    client = signed_in("coordinator")
    first = client.get("/triage/").get_data(as_text=True)
    assert "More than 3 contacts match." in first and "Page 1 of 2+" in first and 'rel="next"' in first
    last = client.get("/triage/?page=3").get_data(as_text=True)
    assert names(last) == ["Person 05"] and 'rel="next"' not in last and 'rel="prev"' in last
