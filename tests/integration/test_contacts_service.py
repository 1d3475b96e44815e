"""The contact service: dedupe candidates, stage moves, validation, optimistic locking."""
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crm.errors import NotFound, ServiceError
from crm.extensions import db
from crm.models import AuditEvent, Contact, ContactIndex, PathChoice, StageChange
from crm.services.contacts import ContactData, ValidationError, create_contact, move_stage


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def _create(**fields):
    fields.setdefault("full_name", "Jan Kowalski")
    result = create_contact(ContactData(**fields))
    db.session.commit()
    return result


def test_create_stores_only_ciphertext_and_audits(app):
    result = _create(email="jan@example.org", phone="+48 600 100 200", city="Kraków",
                     paths=("volunteering", "joint_projects"))
    contact = result.contact
    assert result.candidates == []
    db.session.expire_all()
    stored = db.session.get(Contact, contact.id)
    assert (stored.full_name, stored.email, stored.phone, stored.city) == \
        ("Jan Kowalski", "jan@example.org", "+48 600 100 200", "Kraków")
    assert b"Kowalski" not in stored.full_name_ct
    assert sorted(p.path for p in stored.paths) == ["joint_projects", "volunteering"]
    assert all(p.stage == "interested" and len(p.history) == 1 for p in stored.paths)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.create")).one()
    assert event.target_id == str(contact.id)
    assert "Kowalski" not in str(event.details) and "jan@" not in str(event.details)


def test_same_email_is_a_candidate(make_contact):
    first = make_contact("Ala Nowak", email="Ala.Nowak@Example.org")
    result = _create(full_name="Alicja Zielińska", email="  ala.nowak@EXAMPLE.ORG ")
    assert [(c.contact.id, c.reasons) for c in result.candidates] == [(first.id, ["same email"])]


def test_same_phone_in_another_format_is_a_candidate(make_contact):
    first = make_contact("Piotr Wójcik", phone="+48 600 100 200")
    result = _create(full_name="Paweł Lewandowski", phone="0048600100200")
    assert [(c.contact.id, c.reasons) for c in result.candidates] == [(first.id, ["same phone"])]


def test_same_name_in_cyrillic_and_latin_is_a_candidate(make_contact):
    first = make_contact("Аляксандр Ціханоўскі")
    make_contact("Аляксандр Бабарыка")  # shares one word only: not a candidate
    result = _create(full_name="Tsikhanouski Aliaksandr")
    assert [(c.contact.id, c.reasons) for c in result.candidates] == [(first.id, ["same name"])]


def test_candidates_with_more_reasons_come_first(make_contact):
    by_name = make_contact("Łukasz Kamiński")
    by_all = make_contact("Lukasz Kaminski", email="lk@example.org", phone="+48 600 100 300")
    result = _create(full_name="ŁUKASZ KAMIŃSKI", email="LK@example.org", phone="600 100 300")
    assert [c.contact.id for c in result.candidates] == [by_all.id, by_name.id]
    assert result.candidates[0].reasons == ["same email", "same phone", "same name"]


def test_move_stage_writes_history_and_audit(make_contact):
    contact = make_contact("Ola Kot", paths=("volunteering",))
    change = move_stage(contact.id, "volunteering", "contacted")
    db.session.commit()
    db.session.expire_all()

    choice = db.session.scalars(select(PathChoice).where(PathChoice.contact_id == contact.id)).one()
    assert choice.stage == "contacted"
    assert [(h.from_stage, h.to_stage) for h in choice.history] == [(None, "interested"), ("interested", "contacted")]
    assert change.id == choice.history[-1].id
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "path.stage")).one()
    assert event.target_id == str(contact.id)
    assert event.details == {"path": "volunteering", "from_stage": "interested", "to_stage": "contacted"}


def test_move_stage_to_a_new_path_and_to_the_same_stage(make_contact):
    contact = make_contact("Ola Kot")
    assert move_stage(contact.id, "joint_projects", "screening").from_stage is None
    assert move_stage(contact.id, "joint_projects", "screening") is None
    db.session.commit()
    assert _count(StageChange) == 1


def test_closed_path_reopens_only_as_interested(make_contact):
    contact = make_contact("Ola Kot", paths=("volunteering",))
    move_stage(contact.id, "volunteering", "declined")
    with pytest.raises(ServiceError, match="can only be reopened as interested"):
        move_stage(contact.id, "volunteering", "active")
    assert move_stage(contact.id, "volunteering", "interested").from_stage == "declined"


@pytest.mark.parametrize("path, stage, field", [("parachuting", "active", "path"), ("volunteering", "done", "stage")])
def test_move_stage_rejects_unknown_values(make_contact, path, stage, field):
    contact = make_contact("Ola Kot", paths=("volunteering",))
    with pytest.raises(ValidationError) as caught:
        move_stage(contact.id, path, stage)
    assert list(caught.value.errors) == [field]


def test_move_stage_of_a_missing_contact(app):
    import uuid

    with pytest.raises(NotFound):
        move_stage(uuid.uuid4(), "volunteering", "active")


@pytest.mark.parametrize("fields, field", [
    ({"full_name": "x" * 10_240}, "full_name"),
    ({"full_name": "   "}, "full_name"),
    ({"full_name": "Jan\x00Kowalski"}, "full_name"),
    ({"full_name": "Jan\u202eikswolaK"}, "full_name"),
    ({"city": "Kraków\x1b[31m"}, "city"),
    ({"notes": "a" * 4001}, "notes"),
    ({"notes": "line one\x07"}, "notes"),
    ({"phone": "call me maybe"}, "phone"),
    ({"phone": "+48 600"}, "phone"),
    ({"email": "jan@"}, "email"),
    ({"email": "jan@localhostonly"}, "email"),
    ({"paths": ("volunteering", "parachuting")}, "paths"),
    ({"source": "scraped"}, "source"),
])
def test_validation_errors_name_the_field_and_store_nothing(app, fields, field):
    data = {"full_name": "Jan Kowalski", "email": "jan@example.org", **fields}
    with pytest.raises(ValidationError) as caught:
        create_contact(ContactData(**data))
    assert list(caught.value.errors) == [field]
    assert str(caught.value).startswith(f"{field}: ")
    assert not db.session.new
    db.session.commit()
    assert (_count(Contact), _count(ContactIndex), _count(AuditEvent), _count(PathChoice)) == (0, 0, 0, 0)


def test_multiline_fields_keep_newlines(app):
    contact = _create(notes="first line\nsecond line\ttabbed", skills="a\nb").contact
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).notes == "first line\nsecond line\ttabbed"


def test_two_sessions_editing_one_contact_the_second_is_stale(app, make_contact):
    contact = make_contact("Ola Kot", email="ola@example.org")
    first, second = Session(db.engine), Session(db.engine)
    try:
        mine = first.get(Contact, contact.id)
        theirs = second.get(Contact, contact.id)
        assert mine.version_id == theirs.version_id

        mine.notes = "called on Monday"
        first.commit()
        theirs.city = "Gdańsk"
        with pytest.raises(StaleDataError):
            second.commit()
        second.rollback()
    finally:
        first.close()
        second.close()
    db.session.expire_all()
    stored = db.session.get(Contact, contact.id)
    assert (stored.notes, stored.city) == ("called on Monday", None)
