"""Triage queue: oldest first, filters, clearance, and per-row/bulk actions that are all-or-nothing."""
from datetime import date, datetime, timedelta

import pytest

from crm.errors import NotFound, ServiceError
from crm.extensions import db
from crm.models import AuditEvent, Contact, ContactTriage
from crm.models.base import utcnow
from crm.services import triage
from crm.services.capture import CaptureData, capture
from crm.services.contacts import ValidationError
from crm.services.meetings import MeetingData, create_meeting
from crm.services.triage import QueueFilters, queue_page


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", "coordinator", clearance=True)[0]


@pytest.fixture
def people(coordinator, make_contact):
    """Four contacts created in order: two met in Wrocław, one in Vilnius, one self-registered."""
    wroclaw = create_meeting(MeetingData(city="Wrocław", country="PL", starts_at=datetime(2026, 11, 1, 18)))
    vilnius = create_meeting(MeetingData(city="Vilnius", country="LT", starts_at=datetime(2026, 11, 2, 18)))
    db.session.commit()
    made = {}
    for key, meeting, name, paths in [
        ("anna", wroclaw, "Anna Testowa", ("volunteering",)),
        ("borys", wroclaw, "Borys Testowy", ("combat_service",)),
        ("jonas", vilnius, "Jonas Testas", ("joint_projects",)),
    ]:
        made[key] = capture(meeting, CaptureData(full_name=name, email=f"{key}@example.org", paths=paths),
                            coordinator, "v1", create_anyway=True).contact
        db.session.commit()
    made["self"] = make_contact("Self Registered", email="self@example.org", source="self",
                                paths=("volunteering",))
    made["wroclaw"], made["vilnius"] = wroclaw, vilnius
    return made


def ids(page):
    return [row.contact.id for row in page.rows]


def test_queue_is_oldest_first_and_paginated(coordinator, people):
    first = queue_page(QueueFilters(), coordinator, page=1, per_page=3)
    assert first.total == 4 and first.pages == 2
    assert ids(first) == [people[k].id for k in ("anna", "borys", "jonas")]
    assert ids(queue_page(QueueFilters(), coordinator, page=2, per_page=3)) == [people["self"].id]
    newest = queue_page(QueueFilters(sort="newest"), coordinator)
    assert ids(newest)[0] == people["self"].id


@pytest.mark.parametrize("filters, expected", [
    (dict(city="Wrocław"), ["anna", "borys"]),
    (dict(path="volunteering"), ["anna", "self"]),
    (dict(stage="interested", path="joint_projects"), ["jonas"]),
    (dict(source="self"), ["self"]),
])
def test_filters(coordinator, people, filters, expected):
    assert ids(queue_page(QueueFilters(**filters), coordinator)) == [people[k].id for k in expected]


def test_meeting_and_created_range_filters(coordinator, people):
    by_meeting = queue_page(QueueFilters(meeting_id=people["vilnius"].id), coordinator)
    assert ids(by_meeting) == [people["jonas"].id]
    today = utcnow().date()
    assert queue_page(QueueFilters(created_from=today, created_to=today), coordinator).total == 4
    assert queue_page(QueueFilters(created_to=today - timedelta(days=1)), coordinator).total == 0
    with pytest.raises(ValidationError):
        queue_page(QueueFilters(created_from=today, created_to=today - timedelta(days=1)), coordinator)


def test_restricted_contacts_and_filters_are_hidden_without_clearance(make_user, people):
    plain = make_user("plain", "coordinator")[0]
    page = queue_page(QueueFilters(), plain)
    assert people["borys"].id not in ids(page) and page.total == 3
    with pytest.raises(ValidationError):
        queue_page(QueueFilters(path="combat_service"), plain)


def test_bulk_assign_takes_contacts_out_of_the_queue(coordinator, make_user, people):
    staffer = make_user("staffer", "staff")[0]
    triage.assign([people["anna"].id, people["jonas"].id], staffer.id, coordinator)
    db.session.commit()
    assert ids(queue_page(QueueFilters(), coordinator)) == [people["borys"].id, people["self"].id]
    assigned = queue_page(QueueFilters(status="any", assignee=str(staffer.id)), coordinator)
    assert set(ids(assigned)) == {people["anna"].id, people["jonas"].id}
    assert db.session.get(Contact, people["anna"].id).status == "triaged"
    assert db.session.query(AuditEvent).filter_by(action="triage.assign").count() == 2


def test_bulk_action_with_an_invisible_contact_changes_nothing(make_user, people):
    plain = make_user("plain", "coordinator")[0]
    staffer = make_user("staffer", "staff")[0]
    with pytest.raises(NotFound):
        triage.assign([people["anna"].id, people["borys"].id], staffer.id, plain)
    db.session.rollback()
    assert db.session.get(Contact, people["anna"].id).assignee_id is None


def test_set_stage_in_bulk_writes_history(coordinator, people):
    triage.set_stage([people["anna"].id, people["self"].id], "volunteering", "contacted", coordinator)
    db.session.commit()
    page = queue_page(QueueFilters(stage="contacted"), coordinator)
    assert ids(page) == [people["anna"].id, people["self"].id]
    choice = db.session.get(Contact, people["anna"].id).path("volunteering")
    assert [(c.from_stage, c.to_stage) for c in choice.history] == [(None, "interested"), ("interested", "contacted")]


def test_not_a_fit_with_reason(coordinator, people):
    with pytest.raises(ValidationError):
        triage.not_a_fit([people["jonas"].id], "because", coordinator)
    triage.not_a_fit([people["jonas"].id], "unreachable", coordinator)
    db.session.commit()
    assert people["jonas"].id not in ids(queue_page(QueueFilters(), coordinator))
    assert db.session.get(ContactTriage, people["jonas"].id).not_a_fit_reason == "unreachable"
    assert ids(queue_page(QueueFilters(status="not_a_fit"), coordinator)) == [people["jonas"].id]


def test_snooze_hides_until_the_day(coordinator, people):
    today = date(2026, 11, 25)
    with pytest.raises(ValidationError):
        triage.snooze([people["anna"].id], today, coordinator, today=today)
    with pytest.raises(ValidationError):
        triage.snooze([people["anna"].id], date(9999, 1, 1), coordinator, today=today)
    triage.snooze([people["anna"].id], utcnow().date() + timedelta(days=3), coordinator)
    db.session.commit()
    assert people["anna"].id not in ids(queue_page(QueueFilters(), coordinator))
    assert people["anna"].id in ids(queue_page(QueueFilters(include_snoozed=True), coordinator))


def test_staff_may_not_triage(make_user, people):
    staffer = make_user("staffer", "staff")[0]
    with pytest.raises(ServiceError):
        triage.not_a_fit([people["anna"].id], "other", staffer)
