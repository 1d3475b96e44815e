"""Meetings: created and edited with clear errors; the meeting's people and counts respect clearance."""
from datetime import datetime

import pytest

from crm.extensions import db
from crm.models import AuditEvent, Meeting
from crm.services.capture import CaptureData, capture
from crm.services.contacts import ValidationError
from crm.services.meetings import (
    MeetingData, create_meeting, list_meetings, summarize, update_meeting, visible_count,
)

WHEN = datetime(2026, 11, 20, 18, 30)


def meeting_data(**overrides):
    values = dict(city="Wrocław", country="pl", starts_at=WHEN, venue="Hall 2",
                  notes="side entrance", expected_attendance=80)
    values.update(overrides)
    return MeetingData(**values)


def test_create_meeting_stores_place_time_hosts_and_encrypted_notes(make_user):
    host, _ = make_user("host1", "coordinator")
    meeting = create_meeting(meeting_data(host_ids=(str(host.id),)))
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Meeting, meeting.id)
    assert (stored.city, stored.country, stored.venue) == ("Wrocław", "PL", "Hall 2")
    assert stored.notes == "side entrance" and b"side entrance" not in stored.notes_ct
    assert [h.login for h in stored.hosts] == ["host1"]


@pytest.mark.parametrize("overrides, field", [
    ({"city": ""}, "city"),
    ({"city": "x" * 10_000}, "city"),
    ({"city": "Wro\x00cław"}, "city"),
    ({"country": "Poland"}, "country"),
    ({"country": "ZZ"}, "country"),
    ({"starts_at": None}, "starts_at"),
    ({"starts_at": datetime(1900, 1, 1)}, "starts_at"),
    ({"expected_attendance": -1}, "expected_attendance"),
    ({"actual_attendance": 10**9}, "actual_attendance"),
    ({"host_ids": ("00000000-0000-0000-0000-000000000001",)}, "host_ids"),
])
def test_bad_meeting_input_names_the_field_and_saves_nothing(overrides, field):
    with pytest.raises(ValidationError) as caught:
        create_meeting(meeting_data(**overrides))
    assert field in caught.value.errors
    db.session.rollback()
    assert db.session.query(Meeting).count() == 0


def test_update_reports_changed_fields_and_audits(make_user):
    meeting = create_meeting(meeting_data())
    db.session.commit()
    changed = update_meeting(meeting, meeting_data(venue="Hall 3", actual_attendance=74))
    db.session.commit()
    assert changed == ["actual_attendance", "venue"]
    event = db.session.query(AuditEvent).filter_by(action="meeting.update").one()
    assert event.details == {"fields": ["actual_attendance", "venue"]}


def test_list_is_newest_first_and_paginated():
    for day in range(1, 6):
        create_meeting(meeting_data(starts_at=datetime(2026, 10, day, 18)))
    db.session.commit()
    first = list_meetings(page=1, per_page=2)
    assert first.total == 5 and first.pages == 3
    assert [m.starts_at.day for m in first.items] == [5, 4]
    assert [m.starts_at.day for m in list_meetings(page=99, per_page=2).items] == [1]


def test_summary_counts_hide_restricted_paths_without_clearance(make_user):
    cleared, _ = make_user("cleared", "coordinator", clearance=True)
    plain, _ = make_user("plain", "coordinator")
    meeting = create_meeting(meeting_data())
    db.session.commit()
    people = [
        ("Anna Testowa", "+48 600 100 001", ("volunteering",)),
        ("Borys Testowy", "+48 600 100 002", ("combat_service",)),
        ("Celina Testowa", "+48 600 100 003", ("volunteering", "reserve_training")),
    ]
    for name, phone, paths in people:
        capture(meeting, CaptureData(full_name=name, phone=phone, paths=paths), cleared, "2026-01")
    db.session.commit()

    full = summarize(meeting, cleared)
    assert full.total == 3 and full.new == 3
    assert full.per_path == {"volunteering": 2, "combat_service": 1, "reserve_training": 1}
    assert visible_count(meeting, cleared) == 3

    partial = summarize(meeting, plain)
    assert partial.total == 2
    assert partial.per_path == {"volunteering": 2}
    assert partial.per_stage == {"interested": 2}
    assert all(c.path == "volunteering" for a in partial.attendees for c in a.paths)
    assert visible_count(meeting, plain) == 2
