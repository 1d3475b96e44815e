"""Creating contacts in bulk stores exactly what the one-by-one path stores.

``create_contacts_bulk`` skips the ORM (COPY on PostgreSQL) for speed; these
tests hold it to the same stored format, indexes, paths and history as
``create_contact``, and check the hot-path changes made for it.
"""
import random
from datetime import datetime

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models.bulk import insert_rows
from crm.models import Attendance, AuditEvent, Contact, ContactIndex, PathChoice, StageChange
from crm.security import normalize
from crm.security.cipher import key_id_of
from crm.services import demo, lookup
from crm.services.contacts import ContactData, ValidationError, create_contact, create_contacts_bulk

ALES = dict(full_name="Алесь Бабарыка", email=" Ales.B@Example.org ", phone="+375 29 123 45 67",
            messenger="@ales_b", city="Vilnius", country="LT", notes="Line one\nline two",
            skills="first aid", languages="Belarusian, Polish", consent_version="2026-01",
            paths=("volunteering", "reserve_training"))


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def _index(contact_id):
    rows = db.session.execute(select(ContactIndex.field, ContactIndex.key_id, ContactIndex.token)
                              .where(ContactIndex.contact_id == contact_id)).all()
    return sorted(tuple(r) for r in rows)


def test_bulk_rows_match_the_one_by_one_path():
    single = create_contact(ContactData(**ALES), check_duplicates=False).contact
    (bulk_id,) = create_contacts_bulk([ContactData(**ALES)])
    db.session.commit()
    db.session.expire_all()
    one, many = db.session.get(Contact, single.id), db.session.get(Contact, bulk_id)
    for name in ("full_name", "email", "phone", "messenger", "city", "country", "notes", "skills",
                 "languages"):
        assert getattr(many, name) == getattr(one, name), name
        assert getattr(many, f"{name}_ct") != getattr(one, f"{name}_ct")  # fresh nonce, other row
        assert key_id_of(getattr(many, f"{name}_ct")) == 1
    assert many.email == "Ales.B@Example.org"  # trimmed, like the descriptor does
    assert b"Ales" not in many.email_ct and "Бабарыка".encode() not in many.full_name_ct
    assert [t[1:] for t in _index(bulk_id)] == [t[1:] for t in _index(single.id)]
    assert len(_index(bulk_id)) > 4  # name words in several transliterations, email, phone, handle
    assert (many.source, many.status, many.version_id, many.consent_version) == ("meeting", "new", 1, "2026-01")
    assert isinstance(many.created_at, datetime) and many.consent_at is not None
    assert sorted((p.path, p.stage, [h.to_stage for h in p.history]) for p in many.paths) == \
        [("reserve_training", "interested", ["interested"]), ("volunteering", "interested", ["interested"])]


def test_bulk_contacts_are_found_through_the_indexes():
    ids = create_contacts_bulk([ContactData(**ALES),
                                ContactData(full_name="Zofia Dąbrowska", email="zofia@example.org")])
    db.session.commit()
    assert [c.id for c in lookup.find_by_email("ales.b@example.ORG")] == [ids[0]]
    assert [c.id for c in lookup.find_by_phone("00375 29 123-45-67")] == [ids[0]]
    assert [c.id for c in lookup.find_by_name_word("Ales")] == [ids[0]]
    assert [c.id for c in lookup.find_by_name_word("dabrowska")] == [ids[1]]
    # The one-by-one path sees bulk contacts as duplicate candidates.
    result = create_contact(ContactData(full_name="Someone Else", email="ALES.B@example.org"))
    assert [c.contact.id for c in result.candidates] == [ids[0]]


def test_one_invalid_row_writes_nothing():
    before = (_count(Contact), _count(ContactIndex), _count(AuditEvent))
    with pytest.raises(ValidationError) as caught:
        create_contacts_bulk([ContactData(**ALES), ContactData(full_name="X Y", email="not-an-email"),
                              ContactData(full_name=" ", phone="call me")])
    assert set(caught.value.errors) == {"2.email", "3.full_name", "3.phone"}
    db.session.rollback()
    assert (_count(Contact), _count(ContactIndex), _count(AuditEvent)) == before


def test_one_audit_event_per_bulk_call_without_personal_data():
    create_contacts_bulk([ContactData(**ALES), ContactData(full_name="Jonas Kazlauskas", source="self")])
    db.session.commit()
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.bulk_create")).one()
    assert event.details == {"count": 2, "sources": ["meeting", "self"]}
    assert _count(PathChoice) == _count(StageChange) == 2


def test_empty_bulk_is_a_no_op():
    assert create_contacts_bulk([]) == []
    assert _count(AuditEvent) == 0


def test_demo_seeding_goes_through_bulk_with_valid_phones():
    rng = random.Random(3)
    meetings = demo.create_meetings(rng, 2)
    done = demo.seed_contacts(250, rng, meetings, batch=100)
    db.session.commit()
    assert done == _count(Contact) == _count(Attendance) == 250
    phones = db.session.scalar(select(func.count()).select_from(ContactIndex)
                               .where(ContactIndex.field == "phone"))
    assert phones == 250  # every synthetic number is valid, so every one is indexed


def test_editing_a_stored_contact_replaces_its_index_rows(make_contact):
    contact = make_contact("Ala Nowak", email="ala@example.org")
    old_tokens = {t for f, _, t in _index(contact.id) if f == "email"}
    db.session.expire_all()
    stored = db.session.get(Contact, contact.id)
    stored.email = "ala.nowak@example.org"
    db.session.commit()
    email_rows = [t for t in _index(contact.id) if t[0] == "email"]
    assert len(email_rows) == 1 and {email_rows[0][2]} != old_tokens
    assert [c.id for c in lookup.find_by_email("ala.nowak@example.org")] == [contact.id]
    assert lookup.find_by_email("ala@example.org") == []
    stored.email = None
    db.session.commit()
    assert [t for t in _index(contact.id) if t[0] == "email"] == []


def test_duplicates_within_one_unit_of_work_sort_by_creation(make_contact):
    # Stored rows read back naive on SQLite while new ones hold aware times.
    make_contact("Maryia Kavaliou")
    db.session.expire_all()
    first = create_contact(ContactData(full_name="Maryia Kavaliou")).contact
    second = create_contact(ContactData(full_name="Maryia Kavaliou"))
    assert len(second.candidates) == 2 and second.candidates[-1].contact.id == first.id


def test_normalisation_memo_is_scoped_and_changes_nothing():
    raw = "+375 29 123 45 67"
    outside = normalize.normalize_phone(raw, "PL")
    with normalize.remembered():
        inside = normalize.normalize_phone(raw, "PL")
        assert normalize.normalize_phone(raw, "PL") == inside
        assert normalize.normalize_phone("8029 123 45 67", "BY") == inside
        assert normalize.normalize_phone("8029 123 45 67", "PL") is None  # the region is in the key
        with normalize.remembered():
            assert normalize._MEMO.get()  # nested blocks share the outer memo
        memo = normalize._MEMO.get()
    assert outside == inside == "+375291234567"
    assert normalize._MEMO.get() is None and len(memo) == 3


def test_insert_rows_fills_python_defaults():
    (contact_id,) = create_contacts_bulk([ContactData(full_name="Eglė Petrauskaitė")])
    meeting = demo.create_meetings(random.Random(1), 1)[0]
    insert_rows(db.session, Attendance.__table__, [{"meeting_id": meeting.id, "contact_id": contact_id}])
    db.session.commit()
    row = db.session.scalars(select(Attendance)).one()
    assert row.contact_id == contact_id and isinstance(row.created_at, datetime)


def test_stored_format_is_unchanged_by_the_cipher_caches():
    # Decrypt by hand, from the documented format: version | key id | nonce | body, AD per cell.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from crm.security.crypto import crypto
    from crm.security.keyring import derive_key

    (contact_id,) = create_contacts_bulk([ContactData(full_name="Jonas Jankauskas", email="jonas@example.org")])
    db.session.commit()
    blob = db.session.get(Contact, contact_id).email_ct
    keyring = crypto().keyring
    assert blob[:3] == bytes([1]) + keyring.active_id.to_bytes(2, "big")
    aead = AESGCM(derive_key(keyring.active.enc_root, "muster:enc:v1:contact:email"))
    plain = aead.decrypt(blob[3:15], blob[15:], f"muster:v1:contact:email:{contact_id}".encode())
    assert plain == b"jonas@example.org"


def test_bulk_rows_roll_back_with_the_unit_of_work():
    create_contacts_bulk([ContactData(**ALES)])
    db.session.rollback()
    assert (_count(Contact), _count(ContactIndex), _count(PathChoice), _count(AuditEvent)) == (0, 0, 0, 0)


def test_postgresql_copies_plain_columns_in_binary_and_keeps_every_value():
    """Decision 0030: COPY in binary form when every column is a plain built-in type."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    from crm.models import bulk

    single = create_contact(ContactData(**ALES), check_duplicates=False).contact
    (bulk_id,) = create_contacts_bulk([ContactData(**ALES)])
    db.session.commit()
    contact_copies = [types for (table, _), types in bulk._COPY_TYPES.items() if table == "contact"]
    assert contact_copies and None not in contact_copies
    copied, made = db.session.get(Contact, bulk_id), db.session.get(Contact, single.id)
    for name in ("full_name", "email", "phone", "messenger", "city", "country", "notes", "skills", "languages"):
        assert getattr(copied, name) == getattr(made, name)
    assert copied.created_at.tzinfo is not None and copied.clearance_only == made.clearance_only
    assert _index(bulk_id) == _index(single.id)
