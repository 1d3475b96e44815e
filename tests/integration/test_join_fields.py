"""The join form's answers as fields of their own: availability stored, shown, exported, correctable.

Also: a second registration by the same (proved) address updates the person's own answers,
one by phone only leaves them in a note; earlier contacts' availability moves out of their
notes; a confirmed registration with an export canary's phone names that export.
"""
import json

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, Contact, ContactNote, PendingRegistration
from crm.models.export import Export
from crm.models.base import utcnow
from crm.services import export_canary, exports, join_answers, registration
from crm.services.triage import QueueFilters
from tests.integration.join_helpers import quick_forms, submit  # noqa: F401
from tests.integration.rights_helpers import open_session, page_csrf
from tests.integration.test_rights_correct import _form, _values
from workers.jobs import build_export

pytestmark = pytest.mark.usefixtures("quick_forms")


def confirm_all():
    """Confirm every pending registration and run the completion job inline."""
    for pending in db.session.scalars(select(PendingRegistration)).all():
        pending.confirmed_at = utcnow()
        db.session.flush()
        registration.complete(pending.id)
    db.session.commit()
    db.session.expire_all()


def joined(client, **answers):
    assert submit(client, **answers).status_code == 302
    confirm_all()
    return db.session.scalars(select(Contact).order_by(Contact.created_at.desc())).first()


def test_availability_is_a_field_shown_exported_and_correctable(client, app, signed_in):
    contact = joined(client, availability="Weekends, from March")
    assert contact.availability == "Weekends, from March" and contact.notes == "Message: Hello!"
    raw = db.session.scalar(select(Contact.availability_ct).where(Contact.id == contact.id))
    assert raw and b"Weekends" not in raw, "stored encrypted"

    page = signed_in("coordinator").get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Availability" in page and "Weekends, from March" in page

    person = app.test_client()
    open_session(person, contact)
    for fmt in ("json", "html"):
        body = person.post("/my-data/export", data={"csrf_token": page_csrf(person), "format": fmt})
        assert "Weekends, from March" in body.get_data(as_text=True), fmt
    exported = json.loads(person.post("/my-data/export", data={"csrf_token": page_csrf(person),
                                                               "format": "json"}).data)
    assert exported["contact"]["availability"] == "Weekends, from March"

    form = _form(person)
    values = _values(full_name=contact.full_name, email=contact.email, phone=contact.phone,
                     messenger=contact.messenger, city=contact.city, country=contact.country,
                     languages=contact.languages, skills=contact.skills, preferred_locale="be",
                     availability="Only in July")
    response = person.post("/my-data/correct", data={**form, **values})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).availability == "Only in July"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.update")).one()
    assert event.details["fields"] == ["availability"] and event.details["by"] == "data_subject"


def test_a_too_long_availability_is_refused_next_to_its_field(client, make_contact):
    contact = make_contact("Marta Poprawna", email="marta.old@example.org", phone="+48 600 900 901")
    open_session(client, contact)
    response = client.post("/my-data/correct", data={**_form(client), **_values(availability="x" * 301)})
    assert response.status_code == 400
    assert 'id="availability-error"' in response.get_data(as_text=True) or \
        "availability" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).availability is None


def test_a_second_registration_with_the_same_address_updates_the_own_answers(client, make_contact):
    known = make_contact("Alesia Testova", email="alesia.testova@example.org", skills="cooking",
                         availability="never", paths=("volunteering",))
    joined(client, availability="Weekday evenings", skills="Translation", languages="Polish")
    contact = db.session.get(Contact, known.id)
    assert (contact.availability, contact.skills, contact.languages) == ("Weekday evenings", "Translation",
                                                                          "Polish")
    [note] = db.session.scalars(select(ContactNote).where(ContactNote.contact_id == known.id)).all()
    assert "Hello!" in note.body and "Weekday evenings" not in note.body


def test_a_phone_only_match_leaves_the_answers_in_a_note(client, make_contact):
    known = make_contact("Alesia Testova", email="alesia@example.org", phone="+48 600 300 401",
                         availability="mornings", paths=("joint_projects",))  # same name: merged (0022)
    joined(client, email="attacker@example.net", availability="Any time", skills="Everything")
    contact = db.session.get(Contact, known.id)
    assert contact.availability == "mornings" and contact.skills is None
    [note] = db.session.scalars(select(ContactNote).where(ContactNote.contact_id == known.id)).all()
    assert "Availability: Any time" in note.body and "Skills: Everything" in note.body


@pytest.mark.parametrize(("notes", "expected"), [
    ("Availability: Weekday evenings\n\nMessage: Hello!", ("Weekday evenings", "Message: Hello!")),
    ("Availability: Weekends", ("Weekends", None)),
    ("Message: Hi", (None, "Message: Hi")),
    ("Met at the hall.\nAvailability: Weekends", (None, "Met at the hall.\nAvailability: Weekends")),
    ("Availability: \n\nMessage: x", (None, "Availability: \n\nMessage: x")),
    (None, (None, None)),
])
def test_split_note_reads_only_what_the_join_wrote(notes, expected):
    assert join_answers.split_note(notes) == expected


def test_earlier_registrations_get_their_availability_out_of_the_notes(make_contact, flask_cli):
    old = make_contact("Old Joiner", source="self", notes="Availability: Weekends\n\nMessage: Hi there")
    staff_written = make_contact("Other Joiner", source="self", notes="Called her; Availability: weekends")
    met = make_contact("Met Person", notes="Availability: Mondays")
    result = flask_cli("join", "move-availability")
    assert result.returncode == 0, result.stderr
    assert "Moved the availability of 1 contact(s)" in result.stdout
    db.session.expire_all()
    moved = db.session.get(Contact, old.id)
    assert (moved.availability, moved.notes) == ("Weekends", "Message: Hi there")
    assert db.session.get(Contact, staff_written.id).availability is None
    assert db.session.get(Contact, met.id).notes == "Availability: Mondays", "only self-registrations"
    again = flask_cli("join", "move-availability")
    assert "Moved the availability of 0 contact(s)" in again.stdout, "idempotent"


def test_a_confirmed_registration_with_a_canary_phone_names_the_export(client, make_contact, make_user):
    make_contact("Piotr Plain", email="piotr@example.org", paths=("joint_projects",))
    coordinator = make_user("coord", "coordinator")[0]
    export = exports.request_export(exports.ExportRequest(QueueFilters(status="any", assignee="any"),
                                                          ("full_name", "email", "phone"), "csv", None),
                                    coordinator)
    db.session.commit()
    export_id = export.id
    build_export(str(export_id))
    db.session.expire_all()
    canary = export_canary.canary_of(db.session.get(Export, export_id))

    joined(client, email="innocent@example.org", phone="+48 600 111 222")
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.canary_seen")).all() == []

    contact = joined(app_client(client), email="someone@example.net", phone=canary["phone"])
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.canary_seen")).all()
    assert event.target_id == str(export_id)
    assert event.details == {"via": "join", "contact_id": str(contact.id)}
    assert canary["phone"] not in json.dumps(event.details)


def app_client(client):
    return client.application.test_client()
