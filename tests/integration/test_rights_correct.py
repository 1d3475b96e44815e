"""Correcting one's own details: validated, never overwriting a staff edit, audited."""
import re

from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, Contact
from crm.services import lookup
from tests.integration.rights_helpers import csrf, open_session

FIELDS_RE = re.compile(r'name="(version_id|seen)" type="hidden" value="([^"]*)"')


def _form(client, lang=""):
    page = client.get(f"{lang}/my-data/correct")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    hidden = {name: value.replace("&#34;", '"').replace("&quot;", '"') for name, value in FIELDS_RE.findall(html)}
    return {"csrf_token": csrf(html), **hidden}


def _values(**changes):
    values = {"full_name": "Marta Poprawna", "email": "marta.old@example.org", "phone": "+48 600 900 901",
              "messenger": "", "city": "Kraków", "country": "Poland", "languages": "Polish", "skills": "",
              "preferred_locale": "pl"}
    values.update(changes)
    return values


def _fresh(contact_id):
    db.session.expire_all()
    return db.session.get(Contact, contact_id)


def test_a_correction_is_saved_reindexed_and_audited(client, make_contact):
    contact = make_contact("Marta Poprawna", email="marta.old@example.org", phone="+48 600 900 901",
                           city="Krakow", country="Poland", languages="Polish", preferred_locale="pl")
    open_session(client, contact)
    form = _form(client)
    response = client.post("/my-data/correct", data={**form, **_values(
        email="marta.new@example.org", city="Kraków", messenger="@marta_p", preferred_locale="be")})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    stored = _fresh(contact.id)
    assert (stored.email, stored.city, stored.messenger, stored.preferred_locale) == (
        "marta.new@example.org", "Kraków", "@marta_p", "be")
    assert [c.id for c in lookup.find_by_email("marta.new@example.org")] == [contact.id]
    assert lookup.find_by_email("marta.old@example.org") == [], "the old address's index is gone"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.update")).one()
    assert event.actor_id is None and event.details["by"] == "data_subject"
    assert sorted(event.details["fields"]) == ["city", "email", "messenger", "preferred_locale"]


def test_bad_values_are_shown_next_to_their_fields_and_nothing_is_saved(client, make_contact):
    contact = make_contact("Marta Poprawna", email="marta.old@example.org", phone="+48 600 900 901")
    open_session(client, contact)
    for changes, field in (({"phone": "call me maybe"}, "phone"), ({"email": "nope@"}, "email"),
                           ({"full_name": ""}, "full_name"), ({"country": "x" * 500}, "country"),
                           ({"messenger": "a\u202eb"}, "messenger"), ({"preferred_locale": "xx"}, "preferred_locale")):
        response = client.post("/my-data/correct", data={**_form(client), **_values(**{"city": "Wrocław", **changes})})
        html = response.get_data(as_text=True)
        assert response.status_code == 400, (changes, response.status_code)
        assert f'id="{field}-error"' in html, changes
        assert "Wrocław" in html, "what the person typed is kept"
        assert _fresh(contact.id).city is None, "nothing half-saved"


def test_a_staff_edit_in_between_is_shown_not_overwritten(client, make_contact):
    contact = make_contact("Marta Poprawna", email="marta.old@example.org", phone="+48 600 900 901",
                           city="Kraków", country="Poland", languages="Polish", preferred_locale="pl")
    open_session(client, contact)
    form = _form(client)
    staff_copy = _fresh(contact.id)
    staff_copy.city = "Poznań"
    db.session.commit()
    response = client.post("/my-data/correct", data={**form, **_values(languages="Polish, English")})
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "Poznań" in html
    stored = _fresh(contact.id)
    assert (stored.city, stored.languages) == ("Poznań", "Polish")
    again = client.post("/my-data/correct",
                        data={**_form(client), **_values(city="Poznań", languages="Polish, English")})
    assert again.status_code == 200
    assert _fresh(contact.id).languages == "Polish, English"


def test_staff_notes_are_not_offered_for_editing(client, make_contact):
    contact = make_contact("Marta Poprawna", email="marta.old@example.org", notes="StaffOnlyNote")
    open_session(client, contact)
    html = client.get("/my-data/correct").get_data(as_text=True)
    assert 'name="notes"' not in html and "StaffOnlyNote" not in html
    client.post("/my-data/correct", data={**_form(client), **_values(), "notes": "overwritten"})
    assert _fresh(contact.id).notes == "StaffOnlyNote"
