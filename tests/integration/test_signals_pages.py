"""The signal pages: review list, flags on the contact page, decisions, blocking, visibility.

Also a leak scan: a synthetic person flagged, decided on and blocked through the
pages leaves no plaintext in the database, Redis or the logs.
"""
import random
import re

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, BlockEntry, Contact, Signal
from crm.services import signal_checks, signals, trust
from tests.auth_helpers import csrf_token
from tests.integration.leak_jobs import markers
from tests.integration.test_leak_scan import hits, needles_of, scan_everything, sql_logged  # noqa: F401

PATHS = ("volunteering",)


def shared_pair(make_contact, paths=PATHS, names=("Anna Kowalska", "Boris Zubov"), email="anna@example.org"):
    first = make_contact(names[0], email=email, paths=paths)
    second = make_contact(names[1], email=email, paths=paths)
    signal_checks.scan_contact(second.id)
    db.session.commit()
    return first, second


def signal_of(contact_id):
    db.session.expire_all()
    return db.session.scalars(select(Signal).where(Signal.contact_id == contact_id)).one()


def actions():
    db.session.expire_all()
    return [(e.action, e.details) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_the_review_page_lists_flags_with_evidence_and_the_lists_show_a_badge(signed_in, make_contact):
    first, second = shared_pair(make_contact)
    client = signed_in("coordinator")
    page = client.get("/signals/").get_data(as_text=True)
    assert "Same contact detail under another name" in page and "Open (2)" in page
    assert "Same Email as another contact, whose name differs." in page
    assert f'/contacts/{first.id}"' in page and "Boris Zubov" in page
    found = client.post("/contacts/", data={"csrf_token": csrf_token(client, "/contacts/"), "q": "anna@example.org"})
    assert "Flagged: shared detail" in found.get_data(as_text=True)
    assert "Flagged: shared detail" in client.get("/triage/").get_data(as_text=True)
    detail = client.get(f"/contacts/{first.id}").get_data(as_text=True)
    assert 'id="signals"' in detail and "Block this contact" in detail
    assert ("signal.view", {"contacts": sorted([str(first.id), str(second.id)])}) in actions()


def test_staff_see_no_signals(signed_in, make_contact):
    first, _ = shared_pair(make_contact)
    client = signed_in("staff")
    assert client.get("/signals/").status_code == 403
    assert client.post(f"/signals/{signal_of(first.id).id}/decide", data={}).status_code == 403


def test_clearance_only_contacts_and_their_counts_are_hidden(signed_in, make_contact):
    hidden, _ = shared_pair(make_contact, paths=("reserve_training",), names=("Hidden One", "Hidden Two"),
                            email="hidden@example.org")
    shared_pair(make_contact)
    plain = signed_in("coordinator")
    page = plain.get("/signals/").get_data(as_text=True)
    assert "Open (2)" in page and "Hidden" not in page
    hidden_signal = signal_of(hidden.id)
    token = csrf_token(plain, "/signals/")
    assert plain.post(f"/signals/{hidden_signal.id}/decide",
                      data={"csrf_token": token, "outcome": "clear", "note": "x"}).status_code == 404
    cleared = signed_in("coordinator", clearance=True)
    page = cleared.get("/signals/").get_data(as_text=True)
    assert "Open (4)" in page and "Hidden One" in page


def test_clear_and_confirm_are_audited_and_confirming_blocks_and_quarantines(signed_in, make_contact):
    first, second = shared_pair(make_contact)
    client = signed_in("coordinator")
    token = csrf_token(client, "/signals/")
    one, other = signal_of(first.id), signal_of(second.id)
    missing = client.post(f"/signals/{one.id}/decide", data={"csrf_token": token, "outcome": "clear", "note": ""},
                          follow_redirects=True)
    assert "Write a note" in missing.get_data(as_text=True) and signal_of(first.id).status == "open"
    done = client.post(f"/signals/{one.id}/decide", data={"csrf_token": token, "outcome": "clear", "back": "contact",
                                                         "note": "Sisters sharing one mailbox."})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/contacts/{first.id}#signals")
    assert signal_of(first.id).status == "cleared" and signal_of(first.id).note == "Sisters sharing one mailbox."
    again = client.post(f"/signals/{one.id}/decide", data={"csrf_token": token, "outcome": "confirm",
                                                          "note": "Changed my mind."}, follow_redirects=True)
    assert "already decided" in again.get_data(as_text=True) and signal_of(first.id).status == "cleared"
    client.post(f"/signals/{other.id}/decide", data={"csrf_token": token, "outcome": "confirm",
                                                    "note": "Asked for names of volunteers."})
    confirmed = signal_of(second.id)
    assert confirmed.status == "confirmed" and confirmed.decided_by_id == client.user.id
    contact = db.session.get(Contact, second.id)
    assert contact.trust_level == "unverified"
    assert trust.mark_met([contact.id]) == 0, "a confirmed hostile person stays unverified when met"
    assert [e.reason for e in db.session.scalars(select(BlockEntry))] == ["hostile"]
    logged = actions()
    assert ("signal.cleared", {"signal": str(one.id), "kind": "shared_contact_detail"}) in logged
    assert ("signal.decide_refused", {"signal": str(one.id), "reason": "decided"}) in logged
    assert ("signal.confirmed", {"signal": str(other.id), "kind": "shared_contact_detail"}) in logged
    assert not any("mailbox" in str(details) or "volunteers" in str(details) for _, details in logged)
    assert b"mailbox" not in (db.session.get(Signal, one.id).note_ct or b"")


def test_block_a_contact_with_a_reason(signed_in, make_contact):
    person = make_contact("Ivan Petrov", email="ivan@example.org", paths=PATHS)
    client = signed_in("coordinator")
    token = csrf_token(client, f"/contacts/{person.id}")
    empty = client.post(f"/signals/block/{person.id}", data={"csrf_token": token, "category": "abuse", "note": " "},
                        follow_redirects=True)
    assert "Write a note" in empty.get_data(as_text=True)
    assert db.session.scalars(select(BlockEntry)).all() == []
    done = client.post(f"/signals/block/{person.id}", data={"csrf_token": token, "category": "abuse",
                                                            "note": "Threatened a coordinator."})
    assert done.status_code == 303
    flag = signal_of(person.id)
    assert (flag.kind, flag.status, flag.evidence["category"]) == ("blocklist_match", "confirmed", "abuse")
    [entry] = db.session.scalars(select(BlockEntry)).all()
    assert entry.reason == "blocked" and entry.note == "Threatened a coordinator."
    assert ("signal.block", {"category": "abuse", "signal": str(flag.id)}) in actions()
    page = client.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert "Blocked by a coordinator: Abuse or threats." in page


@pytest.mark.slow
def test_signal_flows_leak_no_marker(signed_in, make_contact, sql_logged, backend, backend_urls, captured_logs,
                                     instance_dir):
    seed = random.SystemRandom().randrange(10 ** 9)
    first, second = markers(seed), markers(seed + 1)
    needles = needles_of(first) | needles_of(second)
    one = make_contact(first["full_name"], email=first["email"], phone=first["phone"], messenger=first["messenger"],
                       paths=PATHS)
    other = make_contact(second["full_name"], email=first["email"], phone=second["phone"], paths=PATHS)
    signals.enqueue_scan(other.id)
    db.session.commit()
    signal_checks.scan_contact(other.id)
    db.session.commit()
    client = signed_in("coordinator")
    token = csrf_token(client, "/signals/")
    assert second["full_name"] in client.get("/signals/").get_data(as_text=True)
    flag = signal_of(one.id)
    client.post(f"/signals/{flag.id}/decide", data={"csrf_token": token, "outcome": "confirm",
                                                   "note": first["notes"]})
    client.post(f"/signals/block/{other.id}", data={"csrf_token": token, "category": "other",
                                                    "note": second["notes"]})
    assert re.search(r"Confirmed hostile", client.get(f"/contacts/{one.id}").get_data(as_text=True))
    stores = scan_everything(backend, backend_urls[0], captured_logs, [], instance_dir)
    leaks = {store: hits(blob, needles) for store, blob in stores.items()}
    assert leaks == {store: [] for store in stores}
