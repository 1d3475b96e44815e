"""Erasure: no value, ciphertext, index or Redis key of the person is left; anonymous counts are.

The person is seeded with everything a record can have (details, paths, a note, a
follow-up with an outcome, attendance shared with someone else, a pending
self-registration, a message in the outbox, a data-rights request with its rate-limit
counters and queued job), erased through the real page and a real worker process,
then every table is read raw and every Redis key and value is scanned.
"""
import json
from datetime import timedelta

from sqlalchemy import inspect, select, text

from crm.extensions import db
from crm.models import (
    AuditEvent,
    Contact,
    ContactIndex,
    ContactNote,
    ErasureCounter,
    FollowUp,
    Outbox,
    PendingRegistration,
)
from crm.models.base import utcnow
from crm.redis_conn import get_redis
from tests.integration.rights_helpers import ask, open_session, page_csrf, press, seed_two_people
from tests.integration.test_leak_scan import redis_bytes

ALICE_PLAIN = ("Alisa", "Markerova", "alisa.marker", "alisa_mk", "+48600700801", "600 700 801", "Gdańsk",
               "AlisaSkill", "AlisaAvailable", "AliceNoteMarker", "AliceOutcomeMarker", "AlisaPending")


def _every_table_raw(skip=("alembic_version",)):
    """Every row of every table as bytes: text columns, binary columns, ids, all of it."""
    chunks = []
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table in skip:
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(json.dumps(value, default=str, ensure_ascii=False).encode())
    return b"\n".join(chunks)


def _ciphertexts(contact_id):
    """Every ciphertext that belongs to the person, read before the erasure."""
    blobs = []
    contact = db.session.get(Contact, contact_id)
    blobs += [getattr(contact, c.key) for c in Contact.__table__.columns if c.key.endswith("_ct")]
    blobs += db.session.scalars(select(ContactNote.body_ct).where(ContactNote.contact_id == contact_id)).all()
    blobs += db.session.scalars(select(FollowUp.outcome_ct).where(FollowUp.contact_id == contact_id)).all()
    return [b for b in blobs if b]


def _index_tokens(contact):
    return {(row.field, row.key_id, row.token) for row in db.session.scalars(
        select(ContactIndex).where(ContactIndex.contact_id == contact.id))}


def _seed_everything(client, app, make_contact, make_user):
    alice, bob, staff, meeting = seed_two_people(make_contact, make_user)
    pending = PendingRegistration(token_hash="f" * 64, consent_version="2026-01",
                                  expires_at=utcnow() + timedelta(days=1))
    pending.full_name, pending.email, pending.phone = "AlisaPending Markerova", "Alisa.Marker@example.org", None
    db.session.add(pending)
    pending_phone = PendingRegistration(token_hash="e" * 64, consent_version="2026-01",
                                        expires_at=utcnow() + timedelta(days=1))
    pending_phone.full_name, pending_phone.email, pending_phone.phone = (
        "AlisaPending Two", "other.address@example.org", "+48 600 700 801")
    db.session.add(pending_phone)
    outbox = Outbox(idempotency_key="test:alice-mail", kind="test", recipient=" Alisa.MARKER@Example.org",
                    status="sent")
    outbox.subject, outbox.body = "Hello", "Hello Alisa Markerova"
    db.session.add(outbox)
    db.session.commit()
    # She asked for her link: a rights request, its job, and rate-limit counters keyed by her email index.
    assert ask(client, "alisa.marker@example.org").status_code == 200
    return alice, bob, staff, meeting


def test_erasure_through_the_page_leaves_nothing_of_the_person(client, app, make_contact, make_user, run_worker):
    alice, bob, staff, meeting = _seed_everything(client, app, make_contact, make_user)
    alice_id, bob_id = alice.id, bob.id
    ciphertexts = _ciphertexts(alice_id)
    tokens = _index_tokens(alice)
    bob_tokens = {(f, t) for f, _k, t in _index_tokens(bob)}
    assert len(ciphertexts) >= 9 and tokens
    redis = get_redis(app)
    email_tokens = [t for f, _k, t in tokens if f == "email"]
    assert any(f"email-{t}/".encode() in redis_bytes(redis) for t in email_tokens), \
        "the seed put her email index into a rate-limit key"

    open_session(client, alice)
    page = client.get("/my-data/erase")
    assert page.status_code == 200
    refused = client.post("/my-data/erase", data={"csrf_token": page_csrf(client, "/my-data/erase")})
    assert refused.status_code == 400 and db.session.get(Contact, alice_id) is not None, "no tick, no erasure"
    done = press(client, "/my-data/erase", {"confirm": "y"})
    assert done.status_code == 200
    assert client.get("/my-data/me").status_code == 410, "her page closes at once"
    assert db.session.get(Contact, alice_id).consent_at is None, "consent is withdrawn at once"

    run_worker()

    db.session.expire_all()
    assert db.session.get(Contact, alice_id) is None
    raw = _every_table_raw()
    for marker in ALICE_PLAIN:
        assert marker.encode() not in raw, marker
    outside_audit = _every_table_raw(skip=("alembic_version", "audit_event"))
    assert alice_id.hex.encode() not in outside_audit and str(alice_id).encode() not in outside_audit, \
        "only the audit log (append-only) still holds her now meaningless id"
    for blob in ciphertexts:
        assert blob not in raw, "a ciphertext of hers is still stored"
    left = {(f, t) for f, t in db.session.execute(select(ContactIndex.field, ContactIndex.token))}
    assert not ({(f, t) for f, _k, t in tokens} - bob_tokens) & left, "an index token of hers is still stored"
    pending_tokens = {(f, t) for p in db.session.scalars(select(PendingRegistration))
                      for f, t in (("email", p.email_token), ("phone", p.phone_token))}
    assert not ({(f, t) for f, _k, t in tokens} - bob_tokens) & pending_tokens
    assert db.session.scalars(select(PendingRegistration)).all() == []
    assert db.session.scalars(select(Outbox)).all() == []
    assert {f.contact_id for f in db.session.scalars(select(FollowUp))} == {bob_id}

    stored = redis_bytes(redis)
    for marker in ALICE_PLAIN:
        assert marker.encode() not in stored, marker
    assert str(alice_id).encode() not in stored, "no job or result names her"
    for field, _key_id, token in tokens:
        if field in ("email", "phone") and (field, token) not in bob_tokens:
            assert f"{field}-{token}/".encode() not in stored, (field, token)

    counts = {(c.scope, c.key): c.count for c in db.session.scalars(select(ErasureCounter))}
    assert counts[("total", "all")] == 1 and counts[("meeting", str(meeting.id))] == 1
    assert counts[("path_stage", "volunteering:contacted")] == 1
    assert counts[("path_stage", "combat_service:interested")] == 1 and counts[("source", "self")] == 1
    erased = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.erased")).one()
    assert erased.target_type == "erasure" and erased.target_id != str(alice_id)
    assert erased.details == {"via": "self"}
    for event in db.session.scalars(select(AuditEvent).where(AuditEvent.target_id == str(alice_id))):
        assert event.ip is None, "her client address is not kept in the log"
    assert db.session.get(Contact, bob_id).full_name == "Bohdan Otherov", "nobody else is touched"
    from crm.security.audit import verify_chain

    assert verify_chain().ok


def test_an_admin_erases_a_person_who_asked_by_letter(app, make_contact, make_user, signed_in, run_worker):
    alice, bob, staff, meeting = seed_two_people(make_contact, make_user)
    alice_id, bob_id = alice.id, bob.id
    coordinator = signed_in("coordinator")
    assert coordinator.get(f"/contacts/{alice.id}/erase").status_code == 403
    admin = signed_in("admin")
    page = admin.get(f"/contacts/{alice.id}/erase")
    assert page.status_code == 200
    assert press(admin, f"/contacts/{alice.id}/erase", {"confirm": "y"}).status_code == 302
    requested = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "contact.erasure_requested")).one()
    assert requested.actor_id == admin.user.id and requested.details["via"] == "admin"
    run_worker()
    db.session.expire_all()
    assert db.session.get(Contact, alice_id) is None and db.session.get(Contact, bob_id) is not None
    erased = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.erased")).one()
    assert erased.details == {"via": "admin"} and erased.target_id == requested.details["erasure"]


def test_the_cli_erases_at_once_and_says_so(app, make_contact, make_user, flask_cli):
    alice, bob, *_ = seed_two_people(make_contact, make_user)
    alice_id = alice.id
    result = flask_cli("erase", str(alice_id))
    assert result.returncode == 0, result.stderr
    assert "Erased" in result.stdout and "Alisa" not in result.stdout + result.stderr
    db.session.expire_all()
    assert db.session.get(Contact, alice_id) is None
    again = flask_cli("erase", str(alice_id))
    assert again.returncode != 0 and "already erased" in again.stderr
    bad = flask_cli("erase", "not-an-id")
    assert bad.returncode != 0 and "UUID" in bad.stderr and "Traceback" not in bad.stderr


def test_the_erase_job_is_idempotent(app, make_contact):
    from workers.jobs import erase_contact

    contact = make_contact("Twice Erased", email="twice@example.org")
    assert erase_contact(str(contact.id)) == {"erased": True}
    assert erase_contact(str(contact.id)) == {"erased": False}
    assert db.session.scalar(select(ErasureCounter.count).where(ErasureCounter.scope == "total")) == 1


def test_the_reconciler_queues_again_what_redis_lost(app, client, make_contact, run_worker):
    from crm.models import ErasureRequest, RightsRequest
    from crm.services import erasure
    from workers.periodic import reconcile_data_rights

    gone = make_contact("Lost Job", email="lost.job@example.org")
    gone_id = gone.id
    erasure.request_erasure(gone, via="admin")
    db.session.commit()
    assert ask(client, "someone.lost@example.org").status_code == 200
    get_redis(app).flushdb()  # Redis lost every queued job
    long_ago = utcnow() - timedelta(minutes=10)
    db.session.execute(ErasureRequest.__table__.update().values(requested_at=long_ago))
    db.session.execute(RightsRequest.__table__.update().values(created_at=long_ago))
    db.session.commit()
    assert reconcile_data_rights() == {"erasures": 1, "lookups": 1, "expired_links": 0}
    run_worker()
    db.session.expire_all()
    assert db.session.get(Contact, gone_id) is None
    assert db.session.scalars(select(RightsRequest)).all() == []
    assert reconcile_data_rights() == {"erasures": 0, "lookups": 0, "expired_links": 0}
