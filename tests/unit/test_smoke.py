from crm.models import Contact
from crm.services import lookup


def test_contact_round_trip_and_lookup(make_contact):
    contact = make_contact("Аляксандр Ціханоўскі", email="A.Test@Example.org", phone="+48 600 100 200")
    found = lookup.find_by_email("a.test@example.ORG")
    assert [c.id for c in found] == [contact.id]
    assert [c.id for c in lookup.find_by_name_word("Aliaksandr")] == [contact.id]
    assert [c.id for c in lookup.find_by_phone("0048600100200")] == [contact.id]
    assert isinstance(found[0], Contact)


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
