"""Candidate duplicate pairs: found in SQL through the blind indexes, collisions dropped by decryption."""
import itertools

import pytest
from sqlalchemy import delete, select

from crm.extensions import db
from crm.jobs import get_queue
from crm.models import AuditEvent, Contact, ContactIndex, ImportRun
from crm.models.base import utcnow
from crm.models.merge import DuplicateCandidate, DuplicateDismissal
from crm.security import blind_index, normalize
from crm.security.crypto import crypto
from crm.services import duplicate_pairs, duplicates
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


def test_an_archived_contact_is_left_out_on_either_side_of_a_pair(make_contact, coordinator):
    """Archived by retention: hidden from everyone, as the lower and as the higher id of a pair."""
    people = sorted((make_contact(f"Marta Hajduk {n}", email="marta@example.org") for n in range(3)),
                    key=lambda c: c.id)
    first, middle, last = people
    assert pair_ids(page_for(coordinator)) == {key(first, middle): ["email"], key(first, last): ["email"],
                                               key(middle, last): ["email"]}
    middle.archived_at = utcnow()  # the higher id of (first, middle), the lower of (middle, last)
    db.session.commit()
    assert {frozenset(row[:2]) for row in db.session.execute(duplicates.pairs_statement(coordinator))} \
        == {key(first, last)}
    page = duplicates.pair_page(coordinator)
    assert pair_ids(page) == {key(first, last): ["email"]} and page.examined == 1


def test_the_page_query_walks_the_pairs_on_sqlite(make_contact, coordinator, backend):
    """Not every visible contact probed against every other: SQLite planned ``low_id IN (visible ids)
    AND high_id IN (visible ids)`` from the two lists (quadratic, minutes a page at 30,000 contacts)."""
    if backend != "sqlite":
        pytest.skip("a check of SQLite's query plan")
    for n in range(3):
        make_contact(f"Ewa Mazur {n}", email="ewa.mazur@example.org")
    duplicates.refresh_candidates()
    statement = duplicates.pairs_statement(coordinator).limit(duplicates.SCAN_CAP)
    sql = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    plan = [row[3] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    assert plan[0].startswith(("SCAN duplicate_candidate", "SEARCH duplicate_candidate USING INDEX "
                                                           "ix_duplicate_candidate_order")), plan
    assert not any("LIST SUBQUERY" in step for step in plan), plan
    assert len(db.session.execute(statement).all()) == 3


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
    client = signed_in("coordinator")
    assert "not been computed yet" in client.get("/duplicates/").get_data(as_text=True)
    a = make_contact("Ira Bond", email="ira@example.org")
    b = make_contact("Ira Bond", email="IRA@example.org")
    body = client.get("/duplicates/").get_data(as_text=True)
    assert f"/duplicates/merge/{a.id}/{b.id}" in body  # recorded when the second was created
    db.session.execute(delete(DuplicateCandidate))      # lost (a restore, a bug): the job repairs it
    db.session.commit()
    assert f"/duplicates/merge/{a.id}/{b.id}" not in client.get("/duplicates/").get_data(as_text=True)
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


# -- pairs recorded as contacts are written ---------------------------------------------------

def recorded():
    """{pair: reasons} in duplicate_candidate, as the page would read it (no refresh)."""
    reasons = {}
    for row in db.session.scalars(select(DuplicateCandidate)):
        reasons[frozenset((row.low_id, row.high_id))] = [
            kind for kind, flag in (("email", row.by_email), ("phone", row.by_phone), ("name_city", row.by_name))
            if flag]
    return reasons


def test_pairs_are_recorded_when_contacts_are_created_and_edited(make_contact):
    a = make_contact("Jan Nowak", email="Jan.Nowak@Example.org", city="Warszawa")
    b = make_contact("J. N.", email="jan.nowak@example.org ")
    e = make_contact("Аляксандр Тэставы", city="Мінск")
    f = make_contact("Aliaksandr Testavy", city="Minsk")
    make_contact("Aliaksandr Testavy", city="Brest")
    assert recorded() == {key(a, b): ["email"], key(e, f): ["name_city"]}
    b.email = "someone.else@example.org"  # an edit (contact_edit sets the attribute the same way)
    db.session.commit()
    assert recorded() == {key(e, f): ["name_city"]}
    b.full_name, b.city, b.phone = "Jan Nowak", "Warszawa", "+48 600 700 800"
    db.session.commit()
    assert recorded() == {key(e, f): ["name_city"], key(a, b): ["name_city"]}
    c = make_contact("P. Z.", phone="600-700-800")
    assert recorded()[key(b, c)] == ["phone"]


def test_a_colliding_token_records_no_pair(make_contact):
    first, second = colliding_emails()
    x = make_contact("Ewa Kot", email=first)
    y = make_contact("Adam Lis", email=second)
    candidates = {frozenset(row[:2]) for row in db.session.execute(duplicates.candidates_statement())}
    assert key(x, y) in candidates and recorded() == {}


def test_rewriting_the_same_value_records_nothing(make_contact):
    """A key rotation re-encrypts every value: nothing to record when the plaintext is the same."""
    from crm.models.merge import NOTED_CONTACTS

    a = make_contact("Ira Bond", email="ira@example.org")
    a.email = "ira@example.org"  # new ciphertext (a fresh nonce), same value
    db.session.flush()
    assert not db.session.info.get(NOTED_CONTACTS)
    a.city = "Gdańsk"
    db.session.flush()
    assert db.session.info.get(NOTED_CONTACTS) == {a.id}
    db.session.rollback()
    assert not db.session.info.get(NOTED_CONTACTS)


def test_an_import_records_the_pairs_it_could_not_merge(make_user, make_contact, run_worker):
    """A contact hidden from the importer is never matched (0015); the pair waits for a cleared coordinator."""
    from tests.integration.test_import_service import wizard_import

    hidden = make_contact("Ales Bykau", email="ales@example.org", paths=("combat_service",))
    namesake = make_contact("Hanna Lis", email="hanna@example.org", city="Kraków")
    plain, _ = make_user("coord-plain", "coordinator")
    body = "Name;Email;City;Path\nAles Bykau;ales@example.org;;volunteer\nHanna Lis;h.lis@example.org;Krakow;\n"
    assert wizard_import(plain, body.encode())["created"] == 2
    assert recorded() == {}, "a batch's created contacts are paired by a job of their own"
    run_id = db.session.scalar(select(ImportRun.id))
    jobs = [job for job in get_queue("default").get_jobs() if job.func_name == duplicate_pairs.IMPORT_PAIRS_JOB]
    assert [job.args for job in jobs] == [[str(run_id), 2, 3]], "ids and record numbers only"
    run_worker("default")
    db.session.rollback()
    new_ales, new_hanna = (db.session.scalar(select(Contact.id).where(Contact.id.not_in([hidden.id, namesake.id]),
                                                                      Contact.email_ct.is_not(None)).where(
        Contact.id.in_(select(ContactIndex.contact_id).where(ContactIndex.field == "email",
                                                             ContactIndex.token == token))))
        for token in (email_token("ales@example.org"), email_token("h.lis@example.org")))
    assert recorded() == {frozenset((hidden.id, new_ales)): ["email"],
                          frozenset((namesake.id, new_hanna)): ["name_city"]}


def email_token(email):
    return crypto().indexer.token(blind_index.EMAIL, normalize.normalize_email(email))


def test_the_rebuild_finds_what_was_recorded(make_contact):
    people = [make_contact(f"Person {n}", email=f"p{n}@example.org", phone=f"+48 600 100 {n:03d}")
              for n in range(6)]
    make_contact("Twin Email", email="P1@example.org")
    make_contact("Twin Phone", phone="600100002")
    olga = make_contact("Olga Sokal", city="Wrocław")
    make_contact("Olga Sokal")  # no city: not a pair
    people[5].full_name, people[5].city = "Olga Sokal", "Łódź"
    db.session.commit()
    twin = make_contact("Olga Sokal", city="Lodz", email="p5@example.org")
    assert key(olga, twin) not in recorded()
    before = recorded()
    assert len(before) == 3 and before[key(people[5], twin)] == ["email", "name_city"]
    duplicates.refresh_candidates()
    db.session.commit()
    assert recorded() == before
