"""Contact pages over HTTP: search POSTed, page audited once, hidden = 404, edit conflicts shown."""
import re

import pytest

from crm.extensions import db
from crm.models import AuditEvent, Contact
from crm.services.contacts import move_stage
from tests.auth_helpers import csrf_token

HIDDEN = re.compile(r'<input id="(version_id|seen)" name="\1" type="hidden" value="([^"]*)">')


def edit_form(client, contact):
    """The edit form's current values, as a browser would send them back."""
    return edit_form_values(client.get(f"/contacts/{contact.id}/edit").get_data(as_text=True))


def edit_form_values(page):
    values = {name: value.replace("&#34;", '"') for name, value in HIDDEN.findall(page)}
    values["csrf_token"] = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    for name in ("full_name", "email", "phone", "messenger", "city", "country", "languages"):
        match = re.search(rf'name="{name}" type="[a-z]+" value="([^"]*)"', page)
        values[name] = match.group(1) if match else ""
    return values


def test_search_is_posted_and_finds_by_name_phone_and_email(signed_in, make_contact):
    contact = make_contact("Аляксандр Тэставы", email="al@example.org", phone="+375 29 111 22 33")
    client = signed_in("coordinator")
    assert client.get("/contacts/?q=al@example.org").status_code == 200  # a GET searches nothing
    token = csrf_token(client, "/contacts/")
    for query in ("Aliaksandr", "8029 111-22-33", "AL@example.org"):
        response = client.post("/contacts/", data={"q": query, "csrf_token": token})
        body = response.get_data(as_text=True)
        assert f"/contacts/{contact.id}" in body, query
    assert db.session.query(AuditEvent).filter_by(action="contact.search").count() == 3
    assert all("al@example" not in str(e.details) for e in db.session.query(AuditEvent))


def test_search_hides_restricted_people_without_clearance(signed_in, make_contact):
    make_contact("Hidden Soldier", email="hs@example.org", paths=("combat_service",))
    client = signed_in("coordinator")
    body = client.post("/contacts/", data={"q": "hs@example.org",
                                           "csrf_token": csrf_token(client, "/contacts/")}).get_data(as_text=True)
    assert "Hidden Soldier" not in body and "0 people found" in body


def test_contact_page_shows_everything_and_audits_one_view(signed_in, make_contact, app):
    contact = make_contact("Marta Testowa", email="marta@example.org", phone="+48 600 300 400",
                           city="Gdańsk", skills="first aid", paths=("volunteering", "reserve_training"))
    move_stage(contact.id, "volunteering", "contacted")
    db.session.commit()
    client = signed_in("coordinator", clearance=True)
    body = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    for text in ("Marta Testowa", "marta@example.org", "Gdańsk", "first aid", "Reserve training",
                 "Interested → Contacted"):
        assert text in body, text
    views = db.session.query(AuditEvent).filter_by(action="contact.view", target_id=str(contact.id)).all()
    assert len(views) == 1


def test_restricted_path_hidden_and_restricted_only_contact_is_404(signed_in, make_contact):
    mixed = make_contact("Mixed Person", email="m@example.org", paths=("volunteering", "combat_service"))
    secret = make_contact("Secret Person", email="s@example.org", paths=("combat_service",))
    client = signed_in("coordinator")
    body = client.get(f"/contacts/{mixed.id}").get_data(as_text=True)
    assert "Volunteering" in body and "Combat service" not in body and "combat_service" not in body
    assert client.get(f"/contacts/{secret.id}").status_code == 404
    assert client.get("/contacts/not-a-uuid").status_code == 404
    assert client.get("/contacts/00000000-0000-0000-0000-000000000000").status_code == 404


def test_staff_see_only_their_assigned_contacts(signed_in, make_contact):
    client = signed_in("staff")
    mine = make_contact("Mine Person", email="mine@example.org")
    other = make_contact("Other Person", email="other@example.org")
    db.session.get(Contact, mine.id).assignee_id = client.user.id
    db.session.commit()
    assert client.get(f"/contacts/{mine.id}").status_code == 200
    assert client.get(f"/contacts/{other.id}").status_code == 404


def test_edit_saves_and_a_concurrent_edit_is_shown_not_overwritten(signed_in, make_contact):
    contact = make_contact("Ivan Test", email="ivan@example.org")
    alice, bob = signed_in("coordinator"), signed_in("coordinator")
    alice_form, bob_form = edit_form(alice, contact), edit_form(bob, contact)

    saved = bob.post(f"/contacts/{contact.id}/edit", data={**bob_form, "email": "ivan.bob@example.org"})
    assert saved.status_code == 302

    clash = alice.post(f"/contacts/{contact.id}/edit", data={**alice_form, "email": "ivan.alice@example.org"})
    body = clash.get_data(as_text=True)
    assert clash.status_code == 409
    assert "Changed by someone else" in body and "ivan.bob@example.org" in body
    assert 'value="ivan.alice@example.org"' in body  # Alice's entry is kept in the form
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email == "ivan.bob@example.org"

    # Having seen the change, Alice saves again on purpose.
    again = {**edit_form_values(body), "email": "ivan.alice@example.org"}
    assert alice.post(f"/contacts/{contact.id}/edit", data=again).status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email == "ivan.alice@example.org"



@pytest.mark.parametrize("field, value", [
    ("full_name", ""), ("full_name", "n" * 10_240), ("email", "someone@"), ("phone", "call me"),
    ("city", "Bad\x00City"),
])
def test_bad_edit_is_shown_next_to_the_field_and_nothing_saved(signed_in, make_contact, field, value):
    contact = make_contact("Kept Name", email="kept@example.org")
    client = signed_in("coordinator")
    form = edit_form(client, contact)
    response = client.post(f"/contacts/{contact.id}/edit", data={**form, field: value, "languages": "Polish"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and f'id="{field}-error"' in body
    assert 'value="Polish"' in body
    db.session.expire_all()
    stored = db.session.get(Contact, contact.id)
    assert (stored.full_name, stored.email, stored.languages) == ("Kept Name", "kept@example.org", None)


def test_stage_move_and_note_from_the_contact_page(signed_in, make_contact):
    contact = make_contact("Olga Test", email="olga@example.org", paths=("volunteering",))
    client = signed_in("coordinator")
    token = csrf_token(client, f"/contacts/{contact.id}")
    assert client.post(f"/contacts/{contact.id}/stage", data={"csrf_token": token, "path": "volunteering",
                                                              "stage": "screening"}).status_code == 302
    assert client.post(f"/contacts/{contact.id}/notes", data={"csrf_token": token,
                                                              "body": "called, will come"}).status_code == 302
    bad = client.post(f"/contacts/{contact.id}/notes", data={"csrf_token": token, "body": "x" * 10_000})
    assert bad.status_code == 400 and 'id="body-error"' in bad.get_data(as_text=True)
    body = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Interested → Screening" in body and "called, will come" in body
    hidden = client.post(f"/contacts/{contact.id}/stage", data={"csrf_token": token, "path": "combat_service",
                                                                "stage": "active"})
    db.session.expire_all()
    assert hidden.status_code == 302 and db.session.get(Contact, contact.id).path("combat_service") is None


def test_search_shows_a_bounded_list_and_says_there_are_more(signed_in, make_contact, monkeypatch):
    monkeypatch.setattr("crm.contacts.views.SEARCH_SHOWN", 2)
    for n in range(3):
        make_contact(f"Common Surname{n}", email=f"c{n}@example.org")
        make_contact(f"Nowak Person{n}", email=f"n{n}@example.org")
    client = signed_in("coordinator")
    body = client.post("/contacts/", data={"q": "nowak", "csrf_token": csrf_token(client, "/contacts/")})
    body = body.get_data(as_text=True)
    assert "More than 2 people found" in body and "Only the 2 most recently added are shown" in body
    assert body.count('href="/contacts/') - body.count('href="/contacts/"') == 2
    # The two newest, newest first.
    assert body.index("Nowak Person2") < body.index("Nowak Person1") and "Nowak Person0" not in body
    monkeypatch.setattr("crm.contacts.views.SEARCH_SHOWN", 3)
    body = client.post("/contacts/", data={"q": "nowak", "csrf_token": csrf_token(client, "/contacts/")})
    body = body.get_data(as_text=True)
    assert "3 people found" in body and "most recently added are shown" not in body


def test_a_save_racing_another_in_the_same_instant_is_a_conflict_too(signed_in, make_contact, monkeypatch):
    """The other save commits between our load and our write: the version check at flush catches it."""
    from sqlalchemy import update

    from crm.services import contact_edit

    contact = make_contact("Race Test", email="race@example.org")
    client = signed_in("coordinator")
    form = edit_form(client, contact)
    real_update = contact_edit.update_contact

    def racing(target, values, seen, user, region):
        # Another request commits after this one loaded the contact and before it writes.
        with db.engine.begin() as conn:
            conn.execute(update(Contact.__table__).where(Contact.__table__.c.id == target.id)
                         .values(version_id=Contact.__table__.c.version_id + 1))
        return real_update(target, values, seen, user, region)

    monkeypatch.setattr(contact_edit, "update_contact", racing)
    response = client.post(f"/contacts/{contact.id}/edit", data={**form, "city": "Toruń"})
    assert response.status_code == 409
    assert "Changed by someone else" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).city is None
