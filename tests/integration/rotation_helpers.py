"""Seeding every encrypted table, and checking that a rotation left nothing behind."""
import json
from collections import Counter

from sqlalchemy import select

from crm.extensions import db
from crm.models import ENCRYPTED_MODELS, Contact, ContactIndex, FollowUp, Meeting, Outbox
from crm.models.base import utcnow
from crm.security.blind_index import EMAIL, PHONE
from crm.security.cipher import key_id_of
from crm.security.crypto import crypto
from crm.security.fields import encrypted_fields
from crm.services import lookup
from crm.services.keys import INDEXED

PEOPLE = [
    ("Аляксандр Ціханоўскі", "a.tsikhanouski@example.org", "+375 29 111-22-33", "Aliaksandr"),
    ("Łukasz Wiśniewski", "LUKASZ.W@Example.org", "+48 600 111 222", "Lukasz"),
    ("Rūta Petrauskaitė", "ruta@example.org", "+370 612 34567", "Ruta"),
    ("Святлана Калеснікава", "sviatlana@example.org", "0048 601 222 333", "Sviatlana"),
]


def seed_everything(make_contact, make_user, copies=5):
    """Contacts with every field, plus a follow-up, a meeting, an outbox row and a user secret.

    Returns {(table, row id): {field: plain value}} and the searchable contacts.
    """
    searchable = []
    for n in range(copies):
        for name, email, phone, _ in PEOPLE:
            local, domain = email.split("@")
            contact = make_contact(
                f"{name} {chr(65 + n)}{chr(97 + n)}", email=f"{local}{n}@{domain}", phone=phone,
                messenger=f"@handle_{n}_{len(searchable)}", city="Białystok", country="Polska",
                notes="Met after the talk;\nasked about training.", skills="first aid",
                languages="be, pl", paths=("volunteering",),
            )
            searchable.append(contact.id)
    contact_id = searchable[0]
    user, _ = make_user("rotation.admin", role="admin")
    user.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    db.session.add_all([
        FollowUp(contact_id=contact_id, kind="call", status="done", outcome="Agreed to help in May"),
        Meeting(city="Warszawa", country="PL", starts_at=utcnow(), notes="Hall booked by Ola"),
        Outbox(idempotency_key="rotation-test-1", kind="welcome", recipient="ruta0@example.org",
               subject="Welcome", body="Dear Rūta, thank you."),
    ])
    db.session.commit()
    return snapshot(), searchable


def snapshot():
    """{(table, id): {field: plain value}} for every row of every encrypted table."""
    db.session.remove()  # end any read transaction: other processes wrote since
    values = {}
    for model in ENCRYPTED_MODELS:
        for row in db.session.scalars(select(model)):
            values[(model.__tablename__, str(row.id))] = {
                name: getattr(row, name) for name in encrypted_fields(model)
            }
    return values


def index_counts():
    """How many index rows each contact has per field."""
    rows = db.session.execute(select(ContactIndex.contact_id, ContactIndex.field))
    return Counter((str(contact_id), field) for contact_id, field in rows)


def assert_index_exact(key_id):
    """Each contact's index rows are exactly the tokens of its values under ``key_id``, once each."""
    indexer = crypto().indexer
    rows = Counter(db.session.execute(select(ContactIndex.contact_id, ContactIndex.field,
                                             ContactIndex.token, ContactIndex.key_id)))
    duplicated = [row for row, count in rows.items() if count > 1]
    assert not duplicated, f"duplicated index rows: {duplicated[:5]}"
    expected = Counter()
    for contact in db.session.scalars(select(Contact)):
        for attribute, spec in INDEXED.items():
            for token in indexer.tokens(spec, getattr(contact, attribute), key_id):
                expected[(contact.id, spec.name, token, key_id)] += 1
    assert rows == expected


def stored_key_ids():
    """Counter of key ids over every stored value and every index row."""
    values, index = Counter(), Counter()
    for model in ENCRYPTED_MODELS:
        columns = [getattr(model, f"{name}_ct") for name in encrypted_fields(model)]
        for row in db.session.execute(select(*columns)):
            values.update(key_id_of(blob) for blob in row if blob is not None)
    index.update(db.session.scalars(select(ContactIndex.key_id)))
    return values, index


def assert_rotated(key_id, before, counts_before, searchable):
    """Everything is under ``key_id``, decrypts to what it was, and is found again."""
    crypto().reload()
    db.session.remove()  # end any read transaction: other processes wrote since
    values, index = stored_key_ids()
    assert set(values) == {key_id}, values
    assert set(index) == {key_id}, index
    assert snapshot() == before
    assert_index_exact(key_id)
    counts = index_counts()
    # Row counts only change where two spellings of a name share a token under one key
    # generation and not the other (16-bit tokens): a handful at most, never more rows.
    changed = {k: (counts_before.get(k), counts.get(k)) for k in set(counts) | set(counts_before)
               if counts.get(k) != counts_before.get(k)}
    assert all(field == "name_word" and abs(a - b) <= 2 for (_, field), (a, b) in changed.items()), changed
    for contact_id in searchable:
        contact = db.session.get(Contact, contact_id)
        first_word = contact.full_name.split()[0]
        indexer = crypto().indexer
        if indexer.tokens(EMAIL, contact.email):
            assert contact_id in [c.id for c in lookup.find_by_email(contact.email.upper())]
        if indexer.tokens(PHONE, contact.phone):
            assert contact_id in [c.id for c in lookup.find_by_phone(contact.phone)]
        assert contact_id in [c.id for c in lookup.find_by_name_word(first_word)]
        assert contact_id in [c.id for c in lookup.find_by_name(contact.full_name)]


def assert_people_found(copies):
    """The seeded Cyrillic and Latin names are found by their Latin spelling."""
    for _, _, _, latin in PEOPLE:
        assert len(lookup.find_by_name_word(latin)) == copies


def keyring_ids(path):
    data = json.loads(path.read_text())
    return data["active"], sorted(int(k) for k in data["keys"])
