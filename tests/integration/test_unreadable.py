"""A value that fails to decrypt is shown as unreadable, never crashes a page, and is audited."""
from flask import render_template_string
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, Contact
from crm.security.fields import UNREADABLE
from crm.services import lookup

LIST = """<ul>{% for c in contacts %}<li id="c-{{ c.id }}">{{ c.full_name }} · {{ c.email or '' }} · \
{{ c.city or '' }}</li>{% endfor %}</ul>"""


def _tamper(contact_id, column):
    """Flip one bit of a stored ciphertext with a raw UPDATE (what an attacker with SQL access does)."""
    table = Contact.__table__
    with db.engine.begin() as conn:
        blob = conn.execute(select(table.c[column]).where(table.c.id == contact_id)).scalar()
        changed = bytearray(blob)
        changed[-1] ^= 0x01
        conn.execute(table.update().where(table.c.id == contact_id).values({column: bytes(changed)}))


def _move(from_id, to_id, column):
    """Copy one row's ciphertext into another row (valid bytes, wrong place)."""
    table = Contact.__table__
    with db.engine.begin() as conn:
        blob = conn.execute(select(table.c[column]).where(table.c.id == from_id)).scalar()
        conn.execute(table.update().where(table.c.id == to_id).values({column: blob}))


def test_list_shows_unreadable_and_audits_it(app, make_contact, captured_logs):
    ala = make_contact("Ala Nowak", email="ala@example.org", city="Gdańsk")
    ola = make_contact("Ola Kot", email="ola@example.org", city="Kraków")
    _tamper(ala.id, "full_name_ct")
    _move(ola.id, ala.id, "city_ct")
    db.session.remove()

    with app.test_request_context():
        contacts = db.session.scalars(select(Contact).order_by(Contact.created_at)).all()
        html = render_template_string(LIST, contacts=contacts)
    assert html.count('<span class="unreadable"') == 2
    assert f'<li id="c-{ala.id}"><span class="unreadable" title="This value could not be decrypted">' \
           f'[unreadable]</span> · ala@example.org · <span class="unreadable"' in html
    assert f'<li id="c-{ola.id}">Ola Kot · ola@example.org · Kraków</li>' in html
    assert contacts[0].full_name is UNREADABLE and str(contacts[0].full_name) == "[unreadable]"

    db.session.commit()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "crypto.unreadable")
                                .order_by(AuditEvent.id)).all()
    assert [(e.target_type, e.target_id, e.details["field"]) for e in events] == [
        ("contact", str(ala.id), "full_name"), ("contact", str(ala.id), "city")]
    assert all("authentication failed" in e.details["reason"] for e in events)
    assert not any("Gdańsk" in line or "Kraków" in line or "Ala" in line for line in captured_logs)


def test_lookup_skips_an_unreadable_candidate(app, make_contact):
    ala = make_contact("Ala Nowak", email="ala@example.org")
    _tamper(ala.id, "email_ct")
    db.session.remove()
    assert lookup.find_by_email("ala@example.org") == []
    assert [c.id for c in lookup.find_by_name_word("Nowak")] == [ala.id]


def test_contact_page_of_the_app_shows_unreadable(app, make_contact, signed_in):
    """Through a real signed-in request to the contact page: 200, the field marked, audited."""
    client = signed_in("admin")
    ala = make_contact("Ala Nowak", email="ala@example.org", city="Gdańsk")
    _tamper(ala.id, "city_ct")
    db.session.remove()
    response = client.get(f"/contacts/{ala.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Ala Nowak" in html and '<span class="unreadable"' in html
    assert "Gdańsk" not in html
    db.session.remove()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "crypto.unreadable")).all()
    assert [(e.target_id, e.details["field"]) for e in events] == [(str(ala.id), "city")]
