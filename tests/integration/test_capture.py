"""Quick capture: phones read in the meeting's country, duplicates caught, attach instead of duplicate."""
from datetime import datetime

import pytest

from crm.errors import NotFound, ServiceError
from crm.extensions import db
from crm.models import Attendance, AuditEvent, Contact
from crm.services.capture import CaptureData, allowed_paths, capture
from crm.services.contact_notes import notes_of
from crm.services.contacts import ValidationError
from crm.services.meetings import MeetingData, create_meeting
from crm.services.search import search


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", "coordinator")[0]


@pytest.fixture
def meeting_in(app):
    def make(country="PL", city="Wrocław"):
        meeting = create_meeting(MeetingData(city=city, country=country, starts_at=datetime(2026, 11, 20, 18)))
        db.session.commit()
        return meeting
    return make


def test_new_person_is_saved_with_attendance_consent_and_e164_phone(coordinator, meeting_in):
    meeting = meeting_in("BY", "Minsk")
    result = capture(meeting, CaptureData(full_name="Алесь Тэставы", phone="8029 123-45-67",
                                          paths=("volunteering",), note="drives a van", consent=True),
                     coordinator, "2026-01")
    db.session.commit()
    contact = result.contact
    assert contact is not None and not result.attached and result.candidates == []
    assert contact.phone == "+375291234567"
    assert contact.consent_version == "2026-01" and contact.consent_at is not None
    notes = notes_of(contact)
    assert [(n.body, author, m.id) for n, author, m in notes] == [("drives a van", "coord", meeting.id)]
    assert contact.notes is None
    assert [p.path for p in contact.paths] == ["volunteering"]
    assert db.session.query(Attendance).filter_by(meeting_id=meeting.id, contact_id=contact.id).count() == 1
    # Stored in E.164, the number is found in any format through the blind index.
    assert [c.id for c in search("+375 29 123 45 67").contacts] == [contact.id]


def test_without_consent_nothing_is_claimed(coordinator, meeting_in):
    result = capture(meeting_in(), CaptureData(full_name="Ewa Testowa", email="ewa@example.org"),
                     coordinator, "2026-01")
    assert result.contact.consent_version is None and result.contact.consent_at is None


def test_duplicate_warning_then_attach_to_existing(coordinator, meeting_in, make_contact):
    existing = make_contact("Łukasz Kowalski", phone="+48 600 200 300", paths=("joint_projects",))
    first_meeting, second_meeting = meeting_in(), meeting_in(city="Kraków")
    capture(first_meeting, CaptureData(full_name="Other Person", email="other@example.org"), coordinator, "v1")
    db.session.commit()

    typed = CaptureData(full_name="Lukasz Kowalski", phone="600-200-300", email="lk@example.org",
                        paths=("volunteering",), note="met again")
    warned = capture(second_meeting, typed, coordinator, "v1")
    assert warned.contact is None
    assert [c.contact.id for c in warned.candidates] == [existing.id]
    assert set(warned.candidates[0].reasons) == {"same phone", "same name"}
    db.session.commit()
    assert db.session.query(Contact).count() == 2  # nothing saved by the warning

    attached = capture(second_meeting, typed, coordinator, "v1", attach_to=str(existing.id))
    db.session.commit()
    assert attached.attached and attached.contact.id == existing.id
    assert db.session.query(Contact).count() == 2
    db.session.expire_all()
    contact = db.session.get(Contact, existing.id)
    assert sorted(p.path for p in contact.paths) == ["joint_projects", "volunteering"]
    assert contact.email == "lk@example.org"  # a blank field is filled
    assert contact.phone == "+48 600 200 300"  # a known field is never overwritten
    assert [n.body for n, _, _ in notes_of(contact)] == ["met again"]
    assert db.session.query(Attendance).filter_by(contact_id=existing.id).count() == 1
    event = db.session.query(AuditEvent).filter_by(action="attendance.create", target_id=str(existing.id)).one()
    assert event.details["attached"] is True


def test_attaching_twice_to_the_same_meeting_keeps_one_attendance(coordinator, meeting_in, make_contact):
    existing = make_contact("Jonas Testas", email="jonas@example.org")
    meeting = meeting_in("LT", "Vilnius")
    for _ in range(2):
        capture(meeting, CaptureData(full_name="Jonas Testas", email="jonas@example.org"), coordinator, "v1",
                attach_to=existing.id)
        db.session.commit()
    assert db.session.query(Attendance).filter_by(contact_id=existing.id).count() == 1


def test_create_anyway_makes_a_second_contact(coordinator, meeting_in, make_contact):
    make_contact("Piotr Nowak", email="p1@example.org")
    result = capture(meeting_in(), CaptureData(full_name="Piotr Nowak", email="p2@example.org"),
                     coordinator, "v1", create_anyway=True)
    db.session.commit()
    assert result.contact is not None and db.session.query(Contact).count() == 2


def test_candidates_hidden_from_a_user_without_clearance(make_user, meeting_in, make_contact):
    plain = make_user("plain", "coordinator")[0]
    make_contact("Secret Person", email="secret@example.org", paths=("combat_service",))
    result = capture(meeting_in(), CaptureData(full_name="Secret Person", email="secret@example.org"),
                     plain, "v1")
    assert result.candidates == [] and result.contact is not None


def test_restricted_paths_need_clearance(make_user, meeting_in):
    plain = make_user("plain", "coordinator")[0]
    cleared = make_user("cleared", "coordinator", clearance=True)[0]
    assert "combat_service" not in allowed_paths(plain) and "combat_service" in allowed_paths(cleared)
    with pytest.raises(ValidationError) as caught:
        capture(meeting_in(), CaptureData(full_name="A B", email="ab@example.org", paths=("combat_service",)),
                plain, "v1")
    assert "paths" in caught.value.errors


def test_staff_may_not_capture(make_user, meeting_in):
    staff = make_user("staffer", "staff")[0]
    with pytest.raises(ServiceError):
        capture(meeting_in(), CaptureData(full_name="A B", email="ab@example.org"), staff, "v1")


def test_attach_to_an_invisible_contact_is_not_found(make_user, meeting_in, make_contact):
    plain = make_user("plain", "coordinator")[0]
    hidden = make_contact("Hidden One", email="h@example.org", paths=("reserve_training",))
    with pytest.raises(NotFound):
        capture(meeting_in(), CaptureData(full_name="Hidden One", email="h@example.org"), plain, "v1",
                attach_to=hidden.id)


@pytest.mark.parametrize("data, field", [
    (CaptureData(full_name="", phone="+48 600 000 000"), "full_name"),
    (CaptureData(full_name="x" * 10_000, phone="+48 600 000 000"), "full_name"),
    (CaptureData(full_name="Bad\x07Name", phone="+48 600 000 000"), "full_name"),
    (CaptureData(full_name="No Reach"), "phone"),
    (CaptureData(full_name="Letters Phone", phone="call me maybe"), "phone"),
    (CaptureData(full_name="Bad Email", email="someone@"), "email"),
    (CaptureData(full_name="Bad Path", email="a@example.org", paths=("space_program",)), "paths"),
    (CaptureData(full_name="Long Note", email="a@example.org", note="n" * 5000), "note"),
])
def test_bad_input_names_the_field_and_saves_nothing(coordinator, meeting_in, data, field):
    meeting = meeting_in()
    with pytest.raises(ValidationError) as caught:
        capture(meeting, data, coordinator, "v1")
    assert field in caught.value.errors
    db.session.rollback()
    assert db.session.query(Contact).count() == 0
    assert db.session.query(Attendance).count() == 0
