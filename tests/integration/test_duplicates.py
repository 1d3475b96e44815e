"""Candidate duplicate pairs: found in SQL through the blind indexes, collisions dropped by decryption."""
import itertools

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent
from crm.models.merge import DuplicateDismissal
from crm.security import blind_index, normalize
from crm.security.crypto import crypto
from crm.services import duplicates
from tests.auth_helpers import csrf_token


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", "coordinator", clearance=True)[0]


def page_for(user, **kwargs):
    """The first page after a fresh search (as the cron job or the refresh button does)."""
    duplicates.refresh_candidates()
    return duplicates.pair_page(user, **kwargs)


def pair_ids(page):
    return {frozenset((p.low.id, p.high.id)): p.reasons for p in page.pairs}


def key(a, b):
    return frozenset((a.id, b.id))


def test_email_phone_and_name_city_pairs_are_found(make_contact, coordinator):
    a = make_contact("Jan Nowak", email="Jan.Nowak@Example.org")
    b = make_contact("J. N.", email="jan.nowak@example.org ")           # same email, other case
    c = make_contact("Piotr Zieliński", phone="+48 600 700 800")
    d = make_contact("P. Z.", phone="600-700-800")                     # same phone, national format
    e = make_contact("Аляксандр Тэставы", city="Мінск")
    f = make_contact("Aliaksandr Testavy", city="Minsk")               # Cyrillic and Latin, same city
    g = make_contact("Aliaksandr Testavy", city="Brest")               # same name, other city: not a pair
    make_contact("Someone Else", email="else@example.org", phone="+48 600 111 222")
    found = pair_ids(page_for(coordinator))
    assert found == {key(a, b): ["email"], key(c, d): ["phone"], key(e, f): ["name_city"]}, found
    assert key(f, g) not in found and key(e, g) not in found


def colliding_emails():
    """Two different emails whose truncated email tokens collide (found by trying)."""
    indexer = crypto().indexer
    seen = {}
    for n in itertools.count():
        email = f"collide{n}@example.org"
        token = indexer.token(blind_index.EMAIL, normalize.normalize_email(email))
        if token in seen:
            return seen[token], email
        seen[token] = email


def test_blind_index_collisions_are_dropped(make_contact, coordinator):
    first, second = colliding_emails()
    x = make_contact("Ewa Kot", email=first)
    y = make_contact("Adam Lis", email=second)
    candidates = {frozenset(row[:2]) for row in db.session.execute(duplicates.candidates_statement())}
    assert key(x, y) in candidates                         # SQL sees a shared token...
    assert duplicates.refresh_candidates() == 0            # ...the job decrypts both and drops it
    assert list(db.session.execute(duplicates.pairs_statement(coordinator))) == []
    page = duplicates.pair_page(coordinator)
    assert page.pairs == [] and page.next_cursor is None


def test_restricted_people_are_left_out_without_clearance(make_contact, make_user, coordinator):
    plain = make_user("plain", "coordinator")[0]
    a = make_contact("Olga Sokal", email="olga@example.org", paths=("combat_service",))
    b = make_contact("Olga Sokal", email="olga@example.org", paths=("volunteering",))
    assert key(a, b) in pair_ids(page_for(coordinator))
    assert pair_ids(page_for(plain)) == {}
    candidates = list(db.session.execute(duplicates.pairs_statement(plain)))
    assert candidates == []


def test_pages_follow_a_cursor_and_audit_the_ids_shown(make_contact, coordinator):
    people = [make_contact(f"Person {n}", email=f"p{n}@example.org") for n in range(5)]
    twins = [make_contact(f"Twin {n}", email=f"p{n}@example.org") for n in range(5)]
    first = page_for(coordinator, per_page=2)
    assert len(first.pairs) == 2 and first.next_cursor
    seen = set(pair_ids(first))
    cursor = first.next_cursor
    while cursor:
        page = duplicates.pair_page(coordinator, cursor=cursor, per_page=2)
        assert not seen & set(pair_ids(page))
        seen |= set(pair_ids(page))
        cursor = page.next_cursor
    assert seen == {key(p, t) for p, t in zip(people, twins)}
    db.session.commit()
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "duplicates.view")))
    assert events and all("example.org" not in str(e.details) for e in events)


def test_dismissed_pairs_stay_dismissed(make_contact, coordinator):
    a = make_contact("Ira Bond", email="ira@example.org")
    b = make_contact("Ira Bond", email="ira@example.org")
    duplicates.dismiss(b.id, a.id, coordinator)
    duplicates.dismiss(a.id, b.id, coordinator)  # twice: still one row
    db.session.commit()
    assert db.session.query(DuplicateDismissal).count() == 1
    assert pair_ids(page_for(coordinator)) == {}


def test_duplicates_page_over_http(signed_in, make_contact, run_worker):
    a = make_contact("Ira Bond", email="ira@example.org")
    b = make_contact("Ira Bond", email="IRA@example.org")
    client = signed_in("coordinator")
    assert "not been computed yet" in client.get("/duplicates/").get_data(as_text=True)
    token = csrf_token(client, "/duplicates/")
    assert client.post("/duplicates/refresh", data={"csrf_token": token}).status_code == 302
    run_worker("default")  # the refresh job, in a real worker
    body = client.get("/duplicates/").get_data(as_text=True)
    assert f"/duplicates/merge/{a.id}/{b.id}" in body and "IRA@example.org" in body
    token = csrf_token(client, "/duplicates/")
    response = client.post("/duplicates/dismiss", data={"csrf_token": token, "first": str(a.id),
                                                        "second": str(b.id), "cursor": ""})
    assert response.status_code == 302
    assert "IRA@example.org" not in client.get("/duplicates/").get_data(as_text=True)
    # Bad input: a malformed cursor reads as "from the start", a made-up id is a 404.
    assert client.get("/duplicates/?after=garbage").status_code == 200
    response = client.post("/duplicates/dismiss", data={"csrf_token": token, "first": "nope", "second": str(b.id)})
    assert response.status_code == 404
