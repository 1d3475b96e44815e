"""The contact page's data and edits: one audit per view, clearance, optimistic locking."""
import pytest

from crm.extensions import db
from crm.models import AuditEvent, Contact
from crm.services import contact_page
from crm.services.contact_edit import EditConflict, snapshot, update_contact
from crm.services.contacts import ValidationError, move_stage


def values_of(contact, **changes):
    values = {name: getattr(contact, name) for name in
              ("full_name", "email", "phone", "messenger", "city", "country", "notes", "skills", "languages")}
    values["preferred_locale"] = contact.preferred_locale
    values.update(changes)
    return values


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", "coordinator")[0]


def test_view_records_one_audit_event_and_hides_restricted_paths(make_user, make_contact):
    plain = make_user("plain", "admin")[0]
    contact = make_contact("Marta Testowa", email="marta@example.org",
                           paths=("volunteering", "combat_service"))
    move_stage(contact.id, "combat_service", "contacted")
    db.session.commit()
    view = contact_page.build(contact, plain)
    db.session.commit()
    assert [p.choice.path for p in view.paths] == ["volunteering"]
    assert view.fields["email"] == "marta@example.org"
    events = db.session.query(AuditEvent).filter_by(action="contact.view").all()
    assert len(events) == 1 and events[0].target_id == str(contact.id)
    # the admin's audit trail shows nothing about the restricted path either
    assert not any((e.details or {}).get("path") == "combat_service" for e, _ in view.audit_trail)


def test_timeline_lists_each_stage_move_with_its_actor(coordinator, make_contact):
    contact = make_contact("Olga Test", email="olga@example.org", paths=("volunteering",))
    move_stage(contact.id, "volunteering", "contacted", actor_id=coordinator.id)
    db.session.commit()
    view = contact_page.build(contact, coordinator)
    history = view.paths[0].history
    assert [(c.from_stage, c.to_stage) for c, _ in history] == [(None, "interested"), ("interested", "contacted")]
    assert history[1][1] == "coord"
    assert view.audit_trail is None  # coordinators do not read the audit log


def test_edit_writes_only_changed_fields(coordinator, make_contact):
    contact = make_contact("Ivan Test", email="ivan@example.org", phone="+48 600 300 400")
    seen = snapshot(contact)
    changed = update_contact(contact, values_of(contact, city="Gdańsk"), seen, coordinator, "PL")
    db.session.commit()
    assert changed == ["city"]
    assert db.session.get(Contact, contact.id).city == "Gdańsk"


def test_concurrent_edit_is_refused_with_what_changed(coordinator, make_contact):
    contact = make_contact("Ivan Test", email="ivan@example.org")
    alice_seen = snapshot(contact)
    bob_seen = snapshot(contact)
    update_contact(contact, values_of(contact, email="ivan.new@example.org"), bob_seen, coordinator, "PL")
    db.session.commit()

    with pytest.raises(EditConflict) as caught:
        update_contact(contact, values_of(contact, email="alice-typo@example.org", city="Łódź"),
                       alice_seen, coordinator, "PL")
    assert caught.value.changes == {"email": "ivan.new@example.org"}
    db.session.rollback()
    stored = db.session.get(Contact, contact.id)
    assert stored.email == "ivan.new@example.org" and stored.city is None


def test_other_changes_bump_the_version_but_do_not_block_a_field_edit(coordinator, make_contact):
    contact = make_contact("Ivan Test", email="ivan@example.org", paths=("volunteering",))
    seen = snapshot(contact)
    move_stage(contact.id, "volunteering", "contacted")
    db.session.commit()
    assert contact.version_id != seen.version_id
    assert update_contact(contact, values_of(contact, city="Poznań"), seen, coordinator, "PL") == ["city"]


@pytest.mark.parametrize("changes, field", [
    ({"full_name": ""}, "full_name"), ({"email": "nobody@"}, "email"), ({"phone": "abc"}, "phone"),
    ({"full_name": "y" * 10_000}, "full_name"), ({"preferred_locale": "xx"}, "preferred_locale"),
])
def test_bad_edits_name_the_field_and_change_nothing(coordinator, make_contact, changes, field):
    contact = make_contact("Kept Name", email="kept@example.org")
    with pytest.raises(ValidationError) as caught:
        update_contact(contact, values_of(contact, **changes), snapshot(contact), coordinator, "PL")
    assert field in caught.value.errors
    db.session.rollback()
    stored = db.session.get(Contact, contact.id)
    assert (stored.full_name, stored.email) == ("Kept Name", "kept@example.org")
