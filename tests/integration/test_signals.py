"""Infiltration signals (issue 8, item 3; docs/decisions/0022-infiltration-signals.md).

Each kind is raised with its evidence and not raised in the negative case; flagged
contacts are never merged automatically (join, import); the blocklist holds tokens
only and survives erasure; decisions are audited; the review page hides what the
viewer may not see, counts included.
"""
import uuid
from datetime import timedelta

from sqlalchemy import func, inspect, select

from crm.extensions import db
from crm.models import BlockEntry, BlockToken, Contact, PendingRegistration, RegistrationSource, Signal
from crm.models.base import utcnow
from crm.security import blind_index
from crm.security.crypto import crypto
from crm.services import blocklist, reconcile, registration, signal_checks, signals, triage

PATHS = ("volunteering",)


def data(**overrides):
    values = {"full_name": "Alesia Testova", "email": "alesia.testova@example.org", "phone": "+48 600 300 401",
              "messenger": "@alesia_t", "city": "Wrocław", "country": "Poland", "locale": "en",
              "paths": PATHS, "consent_version": "2026-01"}
    values.update(overrides)
    return registration.RegistrationData(**values)


def register(address="198.51.100.7", **overrides):
    """Submit and confirm a registration from ``address``, then complete it as its job would."""
    pending = registration.submit(data(**overrides), lambda token: f"http://x/{token}", client_address=address)
    pending.confirmed_at = utcnow()
    db.session.flush()
    contact, merged = registration.complete(pending.id)
    db.session.commit()
    return contact, merged


def flags(contact_id, kind=None):
    db.session.expire_all()
    query = select(Signal).where(Signal.contact_id == contact_id)
    if kind:
        query = query.where(Signal.kind == kind)
    return db.session.scalars(query).all()


def scan(contact_id):
    raised = signal_checks.scan_contact(contact_id)
    db.session.commit()
    return raised


def colliding_emails():
    """Two different addresses whose 14-bit email tokens collide under the active key."""
    indexer, seen = crypto().indexer, {}
    for n in range(200000):
        email = f"person{n}@example.org"
        [token] = indexer.tokens(blind_index.EMAIL, email)
        if token in seen:
            return seen[token], email
        seen[token] = email
    raise AssertionError("no collision found")


# -- shared_contact_detail ---------------------------------------------------------------

def test_same_email_under_another_name_flags_both(make_contact):
    first = make_contact("Anna Kowalska", email="anna@example.org", paths=PATHS)
    second = make_contact("Boris Zubov", email="ANNA@example.org", paths=PATHS)
    assert scan(second.id) == ["shared_contact_detail", "shared_contact_detail"]
    [on_second] = flags(second.id)
    [on_first] = flags(first.id)
    assert on_second.evidence == {"field": "email", "contacts": [str(first.id)]}
    assert on_first.evidence == {"field": "email", "contacts": [str(second.id)]}
    assert scan(second.id) == [], "raised once: running the job again adds nothing"


def test_same_phone_same_person_in_another_spelling_is_no_signal(make_contact):
    make_contact("Аляксандр Тэставы", phone="+48 600 300 402", paths=PATHS)
    second = make_contact("Aliaksandr Testavy", phone="600300402", paths=PATHS)
    assert scan(second.id) == [] and flags(second.id) == []


def test_a_blind_index_collision_is_no_signal(make_contact):
    one, other = colliding_emails()
    first = make_contact("Anna Kowalska", email=one, paths=PATHS)
    second = make_contact("Boris Zubov", email=other, paths=PATHS)
    assert scan(second.id) == [] and flags(first.id) == [] and flags(second.id) == []


def test_a_shared_messenger_handle_is_flagged(make_contact):
    first = make_contact("Anna Kowalska", messenger="@same_handle", paths=PATHS)
    second = make_contact("Boris Zubov", messenger="@Same_Handle", paths=PATHS)
    scan(second.id)
    assert [s.evidence["field"] for s in flags(first.id)] == ["messenger"]


# -- registrations: no silent merge, ip burst ---------------------------------------------

def test_a_phone_match_under_another_name_is_created_apart_and_both_flagged(app, make_contact):
    known = make_contact("Ihar Known", email="ihar@example.org", phone="+48 600 300 401", paths=("joint_projects",))
    contact, merged = register(email="attacker@example.net", full_name="Somebody Else")
    assert not merged and contact.id != known.id
    db.session.expire_all()
    assert {p.path for p in db.session.get(Contact, known.id).paths} == {"joint_projects"}, "nothing merged"
    scan(contact.id)
    assert [s.kind for s in flags(known.id)] == ["shared_contact_detail"]
    assert flags(contact.id)[0].evidence == {"field": "phone", "contacts": [str(known.id)]}


def test_a_second_registration_never_merges_into_a_flagged_contact(make_contact):
    known = make_contact("Alesia Testova", email="alesia.testova@example.org", paths=("joint_projects",))
    signals.raise_signal(known.id, "staff_detail", "test", {"field": "email"})
    db.session.commit()
    contact, merged = register()
    assert not merged and contact.id != known.id
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2


def test_the_same_person_registering_again_still_merges(make_contact):
    known = make_contact("Alesia Testova", email="alesia.testova@example.org", paths=("joint_projects",))
    contact, merged = register()
    assert merged and contact.id == known.id


def test_fifty_registrations_from_one_address_raise_ip_burst(app):
    contacts = [register("203.0.113.9", full_name=f"Person Number{chr(65 + n % 26)}{n}",
                         email=f"p{n}@example.org", phone=None, messenger=None)[0] for n in range(50)]
    elsewhere = register("192.0.2.1", full_name="Someone Elsewhere", email="far@example.org", phone=None,
                         messenger=None)[0]
    for contact in contacts + [elsewhere]:
        scan(contact.id)
    burst = [flags(c.id, "ip_burst") for c in contacts]
    assert all(len(f) == 1 for f in burst)
    evidence = burst[-1][0].evidence
    assert evidence["count"] == 50 and evidence["network"] == "ipv4/24" and evidence["window_minutes"] == 60
    assert len(evidence["contacts"]) == signal_checks.EVIDENCE_IDS and str(contacts[-1].id) not in evidence["contacts"]
    assert flags(elsewhere.id, "ip_burst") == []
    rows = db.session.scalars(select(RegistrationSource)).all()
    assert {r.network_kind for r in rows} == {"ipv4/24"}
    assert all("203.0.113" not in (r.network or "") and len(r.network) == 32 for r in rows)


def test_a_registration_in_a_burst_never_merges_silently(make_contact):
    known = make_contact("Alesia Testova", email="alesia.testova@example.org", paths=("joint_projects",))
    for n in range(9):
        registration.submit(data(full_name=f"Filler Person{chr(65 + n)}", email=f"f{n}@example.org", phone=None),
                            lambda token: "http://x/", client_address=f"203.0.113.{n + 1}")
    db.session.commit()
    contact, merged = register("203.0.113.200")  # the tenth form from 203.0.113.0/24 within the hour
    assert not merged and contact.id != known.id
    assert {p.path for p in db.session.get(Contact, known.id).paths} == {"joint_projects"}


def test_a_few_registrations_from_one_network_are_no_burst(app):
    found = [register(f"2001:db8:1:2::{n}", full_name=f"Quiet Person{chr(65 + n)}", email=f"q{n}@example.org",
                      phone=None, messenger=None)[0] for n in range(3)]
    for contact in found:
        scan(contact.id)
    assert all(flags(c.id, "ip_burst") == [] for c in found)
    assert {r.network_kind for r in db.session.scalars(select(RegistrationSource))} == {"ipv6/64"}


def test_sources_are_purged_with_the_pending_registrations(app):
    register()
    old = RegistrationSource(pending_id=uuid.uuid4(), network="0" * 32, network_kind="ipv4/24", key_id=1,
                             created_at=utcnow() - timedelta(days=app.config["JOIN_PENDING_DAYS"] + 1))
    db.session.add(old)
    db.session.commit()
    registration.purge_unconfirmed(app.config["JOIN_PENDING_DAYS"])
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(RegistrationSource)) == 1


# -- registration spike -------------------------------------------------------------------

def _self_contacts(times):
    for at in times:
        db.session.add(Contact(source="self", created_at=at, trust_level="unverified"))
    db.session.commit()


def test_a_spike_flags_the_hours_registrations(app, monkeypatch):
    now = utcnow()
    monkeypatch.setitem(app.config, "SIGNAL_SPIKE_BASELINE_DAYS", 2)
    _self_contacts(now - timedelta(hours=2 + h) for h in range(0, 48, 3))  # one every three hours
    _self_contacts(now - timedelta(minutes=2 + m) for m in range(25))
    assert "registration_spike" in reconcile.STEPS
    results = reconcile.run_all(app, now=now)
    assert results["registration_spike"] == 25
    spiked = db.session.scalars(select(Signal).where(Signal.kind == "registration_spike")).all()
    assert len(spiked) == 25
    evidence = spiked[0].evidence
    assert evidence["count"] == 25 and evidence["baseline_days"] == 2 and evidence["mean"] < 1


def test_a_busy_but_usual_hour_is_no_spike(app, monkeypatch):
    now = utcnow()
    monkeypatch.setitem(app.config, "SIGNAL_SPIKE_BASELINE_DAYS", 1)
    times = []
    for hour in range(1, 24):
        times += [now - timedelta(hours=hour, minutes=5 + m) for m in range(15 if hour % 2 else 40)]
    _self_contacts(times)
    _self_contacts(now - timedelta(minutes=1 + m) for m in range(25))
    assert signal_checks.registration_spike(now) == 0
    monkeypatch.setitem(app.config, "SIGNAL_SPIKE_MIN_COUNT", 30)
    assert signal_checks.spike_figures(now) is None, "below the minimum nothing is computed"


# -- blocklist ----------------------------------------------------------------------------

def test_declined_person_registering_again_matches_the_blocklist(make_contact, make_user):
    coordinator = make_user("coord", "coordinator")[0]
    declined = make_contact("Ivan Petrov", email="ivan.petrov@example.org", phone="+48 600 700 800",
                            source="self", paths=PATHS)
    triage.not_a_fit([declined.id], "unsuitable", coordinator)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(BlockEntry)) == 1
    contact, merged = register(full_name="Иван Петров", email="ivan.petrov@example.org", phone=None, messenger=None)
    assert not merged and contact.id != declined.id, "a blocklisted registration never merges"
    scan(contact.id)
    [match] = flags(contact.id, "blocklist_match")
    assert match.evidence["entry_reason"] == "declined" and match.evidence["matched"] == ["email", "name"]


def test_not_interested_is_no_block(make_contact, make_user):
    coordinator = make_user("coord", "coordinator")[0]
    person = make_contact("Olga Nowak", email="olga@example.org", paths=PATHS)
    triage.not_a_fit([person.id], "not_interested", coordinator)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(BlockEntry)) == 0


def test_the_blocklist_holds_no_contact_id_and_survives_erasure(make_contact, make_user):
    from crm.services import erasure

    coordinator = make_user("coord", "coordinator")[0]
    person = make_contact("Ivan Petrov", email="ivan.petrov@example.org", paths=PATHS)
    signals.block_contact(person.id, "infiltration", "Asked for lists of names.", coordinator)
    db.session.commit()
    for table in ("block_entry", "block_token"):
        assert not any("contact" in c["name"] for c in inspect(db.engine).get_columns(table))
    tokens = db.session.scalar(select(func.count()).select_from(BlockToken))
    erasure.erase(person.id, via="admin")
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(BlockToken)) == tokens
    assert db.session.scalar(select(func.count()).select_from(Signal)) == 0
    newcomer = make_contact("Somebody New", email="ivan.petrov@example.org", paths=PATHS)
    scan(newcomer.id)
    assert flags(newcomer.id, "blocklist_match")[0].evidence["entry_reason"] == "blocked"


def test_one_shared_name_word_is_no_blocklist_match(make_contact):
    blocklist.add(blocklist.Details(full_name="Ivan Petrov"), "hostile")
    db.session.commit()
    namesake = make_contact("Ivan Sidorov", paths=PATHS)
    assert scan(namesake.id) == []


# -- staff detail -------------------------------------------------------------------------

def test_a_contact_with_a_staff_email_is_flagged(make_contact, make_user):
    staffer = make_user("staffer", "staff")[0]
    staffer.email = "Staffer@Example.org"
    db.session.commit()
    same = make_contact("Not Staff", email="staffer@example.org", paths=PATHS)
    other = make_contact("Other Person", email="other@example.org", paths=PATHS)
    scan(same.id)
    scan(other.id)
    [flag] = flags(same.id)
    assert (flag.kind, flag.evidence) == ("staff_detail", {"field": "email", "user": str(staffer.id)})
    assert flags(other.id) == []


def test_a_job_over_a_deleted_contact_is_a_clean_no_op(app):
    from crm.models import AuditEvent

    gone = uuid.uuid4()
    assert signal_checks.scan_contact(gone) is None
    db.session.commit()
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signal.scan_skipped")).one()
    assert event.target_id == str(gone) and db.session.scalar(select(func.count()).select_from(Signal)) == 0


# -- import and capture -------------------------------------------------------------------

def test_an_import_row_never_merges_into_a_flagged_contact(runner, tmp_path, make_contact):
    import json

    flagged = make_contact("Jan Kowalski", email="jan@example.pl", paths=PATHS)
    plain = make_contact("Anna Nowak", email="anna@example.pl", paths=PATHS)
    signals.raise_signal(flagged.id, "ip_burst", "test", {"count": 1})
    db.session.commit()
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("Name;Email\nJan Kowalski;jan@example.pl\nAnna Nowak;anna@example.pl\n", encoding="utf-8")
    result = runner.invoke(args=["crm", "import", str(sheet), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["created"], summary["merged"]) == (1, 1), "the flagged contact got a new one beside it"
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 3
    assert plain.id in {c.id for c in db.session.scalars(select(Contact))}


def test_each_import_batch_queues_its_scan_and_the_scan_flags(runner, tmp_path, make_contact, make_user):
    import json

    from crm.jobs import get_queue
    from crm.models import ImportRun

    coordinator = make_user("coord", "coordinator")[0]
    known = make_contact("Anna Nowak", email="shared@example.pl", paths=PATHS)
    signals.block_contact(known.id, "abuse", "Threatened a coordinator.", coordinator)
    db.session.commit()
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("Name;Email\nBoris Zubov;shared@example.pl\n", encoding="utf-8")
    result = runner.invoke(args=["crm", "import", str(sheet), "--json"])
    assert json.loads(result.output)["created"] == 1, "a blocked contact is never merged into"
    run = db.session.scalars(select(ImportRun)).one()
    jobs = [job for job in get_queue("default").get_jobs() if job.func_name == signals.IMPORT_SCAN_JOB]
    assert [job.args for job in jobs] == [[str(run.id), 2, 2]], "ids and record numbers only"
    assert signal_checks.scan_import_batch(run.id, 2, 2) == {"contacts": 1, "raised": 3}
    db.session.commit()
    [newcomer] = [c for c in db.session.scalars(select(Contact)) if c.id != known.id]
    assert sorted(s.kind for s in flags(newcomer.id)) == ["blocklist_match", "shared_contact_detail"]


def test_a_real_worker_completes_and_flags_through_the_jobs(app, client, run_worker, make_contact):
    from crm.jobs import enqueue
    from tests.integration.join_helpers import submit

    app.config["JOIN_MIN_FILL_SECONDS"], before = 0, app.config["JOIN_MIN_FILL_SECONDS"]
    try:
        known = make_contact("Ihar Known", phone="+48 600 300 401", paths=PATHS)
        assert submit(client, email="someone@example.net", full_name="Somebody Else").status_code == 302
    finally:
        app.config["JOIN_MIN_FILL_SECONDS"] = before
    [pending] = db.session.scalars(select(PendingRegistration)).all()
    pending.confirmed_at = utcnow()
    enqueue(registration.COMPLETE_JOB, pending.id)
    db.session.commit()
    run_worker("default")
    [flag] = flags(known.id)
    assert flag.kind == "shared_contact_detail" and flag.evidence["field"] == "phone"
    assert db.session.scalar(select(func.count()).select_from(RegistrationSource)) == 1
