"""The search box finds people by email, any phone format and name words (blind indexes only)."""
import pytest

from crm.services.search import classify, phone_readings, search


@pytest.mark.parametrize("query, kind", [
    ("a@example.org", "email"), ("+375 29 123-45-67", "phone"), ("8029 123 45 67", "phone"),
    ("Łukasz", "name"), ("   ", "empty"), ("12", "empty"),
])
def test_classify(query, kind):
    assert classify(query) == kind


def test_phone_readings_cover_national_formats():
    assert "+375291234567" in phone_readings("8029 123-45-67", ("PL", "BY"))
    assert phone_readings("0048 600 000 000", ("PL",)) == ["+48600000000"]


@pytest.mark.parametrize("query", [
    "+375 29 123-45-67", "+375291234567", "8029 123 45 67", "80291234567", "00375291234567",
])
def test_search_by_belarusian_phone_in_any_format(make_contact, query):
    contact = make_contact("Святлана Тэст", phone="+375 29 123 45 67")
    make_contact("Other Person", phone="+48 600 000 001")
    result = search(query)
    assert result.kind == "phone"
    assert [c.id for c in result.contacts] == [contact.id]


@pytest.mark.parametrize("query", ["+48 600 000 000", "0048 600 000 000", "600-000-000", "600000000"])
def test_search_by_polish_phone_in_any_format(make_contact, query):
    contact = make_contact("Łukasz Testowy", phone="600 000 000")
    assert [c.id for c in search(query).contacts] == [contact.id]


def test_search_by_email_ignores_case_and_spaces(make_contact):
    contact = make_contact("Jonas Testas", email="Jonas.Testas@Example.org")
    assert [c.id for c in search("  jonas.testas@EXAMPLE.org ").contacts] == [contact.id]


@pytest.mark.parametrize("stored, query", [
    ("Łukasz Kowalski", "lukasz"),
    ("Аляксандр Ціханоўскі", "Aliaksandr"),
    ("Sviatlana Tsikhanouskaya", "Ціханоўская"),
    ("Святлана Ціханоўская", "tsikhanouskaya"),
    ("Eglė Žukauskienė", "zukauskiene egle"),
])
def test_search_by_name_words_across_scripts(make_contact, stored, query):
    contact = make_contact(stored)
    make_contact("Unrelated Name")
    assert contact.id in [c.id for c in search(query).contacts]


def test_search_all_name_words_must_match(make_contact):
    make_contact("Piotr Nowak")
    target = make_contact("Piotr Zieliński")
    assert [c.id for c in search("piotr zielinski").contacts] == [target.id]


def test_empty_and_absurd_queries_find_nothing(make_contact):
    make_contact("Someone Here", email="someone@example.org")
    assert search("").contacts == []
    assert search("@").contacts == []
    assert search("x" * 10_000).contacts == []


def _aged(contacts):
    """Give ``contacts`` creation times a minute apart, in list order (oldest first)."""
    from datetime import timedelta

    from crm.extensions import db
    from crm.models.base import utcnow

    start = utcnow() - timedelta(days=1)
    for n, contact in enumerate(contacts):
        contact.created_at = start + timedelta(minutes=n)
    db.session.commit()
    return [c.id for c in contacts]


def test_a_name_search_stops_at_the_newest_matches(make_contact):
    from crm.services.lookup import find_by_name

    ids = _aged([make_contact(f"Nowak Person{n}") for n in range(5)])
    make_contact("Kowalski Other")
    assert [c.id for c in find_by_name("nowak", limit=3)] == ids[::-1][:3]
    assert [c.id for c in find_by_name("nowak")] == ids[::-1]


def test_a_changed_creation_time_reorders_the_index_rows(make_contact):
    """A merge keeps the earlier creation time: the name index follows it."""
    from datetime import timedelta

    from crm.extensions import db
    from crm.models import ContactIndex
    from crm.services.lookup import find_by_name

    ids = _aged([make_contact(f"Nowak Person{n}") for n in range(3)])
    from crm.models import Contact

    oldest = db.session.get(Contact, ids[0])
    oldest.created_at = oldest.created_at + timedelta(days=2)  # now the newest
    db.session.commit()
    stamps = {row.contact_created_at for row in db.session.query(ContactIndex).filter_by(contact_id=ids[0])}
    assert len(stamps) == 1
    assert [c.id for c in find_by_name("nowak", limit=1)] == [ids[0]]


def test_collisions_ahead_of_a_rare_name_do_not_hide_it(make_contact, monkeypatch):
    """Newer contacts that only collide on the blind index fill whole rounds; the match is still found."""
    from crm.extensions import db
    from crm.models import ContactIndex
    from crm.models.contact import index_rows
    from crm.security import blind_index
    from crm.services import lookup

    monkeypatch.setattr(lookup, "name_chunk", lambda limit: 2)
    real = make_contact("Anna Zaleska")
    decoys = [make_contact(f"Decoy Person{n}") for n in range(5)]
    _aged([real, *decoys])
    for decoy in decoys:  # forge a collision: the (newer) decoy holds the tokens of "Zaleska"
        db.session.add_all(ContactIndex(**row) for row in index_rows(
            decoy.id, blind_index.NAME_WORD, "Zaleska", created_at=decoy.created_at))
    db.session.commit()
    assert len(lookup.candidate_ids(blind_index.NAME_WORD, "zaleska")) == 6
    assert [c.id for c in lookup.find_by_name("zaleska", limit=1)] == [real.id]


def test_contacts_the_viewer_may_not_see_take_no_place(make_contact, make_user):
    from crm.services.lookup import find_by_name

    plain, _ = make_user("plain", "coordinator")
    shown = [make_contact(f"Nowak Shown{n}", paths=("volunteering",)) for n in range(2)]
    hidden = [make_contact(f"Nowak Hidden{n}", paths=("combat_service",)) for n in range(3)]
    ids = _aged([*shown, *hidden])
    assert [c.id for c in find_by_name("nowak", limit=2, visible_to=plain)] == ids[1::-1]
    assert [c.id for c in find_by_name("nowak", limit=2)] == ids[:2:-1][:2]
