"""The join flow for real: form -> pending row -> mail over SMTP (real worker) -> confirm -> triage.

Also: the link expires and works once, a second registration merges silently, and
the cron job purges what was never confirmed.
"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Contact, ContactNote, PendingRegistration
from crm.models.base import utcnow
from crm.services import registration
from tests.integration.join_helpers import confirm_link, press_confirm, quick_forms, submit  # noqa: F401

pytestmark = pytest.mark.usefixtures("quick_forms")


def pending_count():
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(PendingRegistration))


def contacts():
    db.session.expire_all()
    return db.session.scalars(select(Contact)).all()


def test_submit_mail_confirm_lands_in_triage(client, smtp_server, run_worker, signed_in):
    response = submit(client, "/be/join")
    assert response.status_code == 302 and response.headers["Location"].endswith("/be/join/thanks")
    assert pending_count() == 1 and contacts() == [], "nothing becomes a contact before the opt-in"

    output = run_worker("mail")
    assert len(smtp_server.messages) == 1, output[-3000:]
    message = smtp_server.messages[0]
    assert message["To"] == "alesia.testova@example.org"
    assert message["Subject"] == "Калі ласка, пацвердзіце свой адрас электроннай пошты"
    assert message.get_body(preferencelist=("html",)) is not None
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Добры дзень" in text
    for word in ("volunteer", "combat", "reserve", "Muster"):
        assert word.lower() not in (message["Subject"] + message["From"]).lower()

    link = confirm_link(message)
    assert "/be/join/confirm/" in link
    page = client.get(link)
    assert page.status_code == 200 and pending_count() == 1, "opening the link confirms nothing"
    assert press_confirm(client, link).status_code == 200
    run_worker("default")

    [contact] = contacts()
    assert (contact.source, contact.status, contact.assignee_id) == ("self", "new", None)
    assert contact.full_name == "Alesia Testova" and contact.email == "alesia.testova@example.org"
    assert contact.phone == "+48 600 300 401" and contact.city == "Wrocław"
    assert contact.preferred_locale == "be" and contact.consent_version == "2026-01"
    assert contact.consent_at is not None
    assert {(p.path, p.stage) for p in contact.paths} == {("volunteering", "interested"),
                                                         ("joint_projects", "interested")}
    assert contact.availability == "Weekday evenings" and contact.skills == "Translation, video editing"
    assert contact.notes == "Message: Hello!", "availability has its own field, not a line in the notes"
    assert pending_count() == 0, "the pending copy is gone once the contact exists"

    coordinator = signed_in("coordinator")
    queue = coordinator.get("/triage/").get_data(as_text=True)
    assert "Alesia Testova" in queue


def test_the_link_works_once(client, app):
    submit(client)
    [pending] = db.session.scalars(select(PendingRegistration)).all()
    token = "known-token-" + "x" * 20
    pending.token_hash = registration.hash_token(token)
    db.session.commit()
    url = f"/en/join/confirm/{token}"
    assert press_confirm(client, url).status_code == 200
    again = press_confirm(client, url)
    assert again.status_code == 404 and "no longer works" in again.get_data(as_text=True)
    assert client.get(url).status_code == 404


def test_an_expired_link_confirms_nothing(client, app):
    submit(client)
    [pending] = db.session.scalars(select(PendingRegistration)).all()
    token = "expired-token-" + "y" * 20
    pending.token_hash = registration.hash_token(token)
    pending.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = press_confirm(client, f"/join/confirm/{token}")
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(PendingRegistration, pending.id).confirmed_at is None


def test_a_confirm_post_without_the_page_token_is_refused(client, app):
    submit(client)
    [pending] = db.session.scalars(select(PendingRegistration)).all()
    token = "csrf-token-test-" + "z" * 20
    pending.token_hash = registration.hash_token(token)
    db.session.commit()
    assert client.post(f"/join/confirm/{token}", data={}).status_code == 400
    db.session.expire_all()
    assert db.session.get(PendingRegistration, pending.id).confirmed_at is None


def confirm_all():
    """Confirm every pending registration and run the completion job inline."""
    for pending in db.session.scalars(select(PendingRegistration)).all():
        pending.confirmed_at = utcnow()
        db.session.flush()
        registration.complete(pending.id)
    db.session.commit()


def test_a_second_registration_merges_silently_into_the_known_person(client, make_contact, app):
    known = make_contact("Alesia Testova", email="Alesia.Testova@example.org", paths=("volunteering",))
    first = submit(client, paths=["volunteering", "reserve_training"], email="alesia.testova@EXAMPLE.org")
    stranger = submit(app.test_client(), email="someone.else@example.org")
    assert first.status_code == stranger.status_code == 302
    assert first.headers["Location"] == stranger.headers["Location"], "the same answer for both"
    confirm_all()
    db.session.expire_all()
    assert len(contacts()) == 2
    contact = db.session.get(Contact, known.id)
    assert {(p.path, p.stage) for p in contact.paths} == {("volunteering", "interested"),
                                                         ("reserve_training", "interested")}
    notes = db.session.scalars(select(ContactNote).where(ContactNote.contact_id == known.id)).all()
    assert len(notes) == 1 and "Hello!" in notes[0].body


def test_a_phone_match_of_the_same_name_adds_paths_but_never_changes_the_known_details(client, make_contact):
    known = make_contact("Alesia Testova", email="alesia@example.org", phone="+48 600 300 401",
                         paths=("joint_projects",))
    submit(client, email="attacker@example.net", paths=["volunteering"])
    confirm_all()
    db.session.expire_all()
    contact = db.session.get(Contact, known.id)
    assert contact.email == "alesia@example.org" and contact.full_name == "Alesia Testova"
    assert {p.path for p in contact.paths} == {"joint_projects", "volunteering"}
    assert len(contacts()) == 1


def test_a_phone_match_under_another_name_never_merges_silently(client, make_contact):
    known = make_contact("Ihar Known", email="ihar@example.org", phone="+48 600 300 401",
                         paths=("joint_projects",))
    submit(client, email="attacker@example.net", full_name="Somebody Else", paths=["volunteering"])
    confirm_all()
    db.session.expire_all()
    assert {p.path for p in db.session.get(Contact, known.id).paths} == {"joint_projects"}
    assert len(contacts()) == 2, "created apart; the signal job flags both (test_signals.py)"


def test_completion_is_idempotent(client):
    submit(client)
    [pending] = db.session.scalars(select(PendingRegistration)).all()
    pending.confirmed_at = utcnow()
    db.session.commit()
    pending_id = pending.id
    assert registration.complete(pending_id) is not None
    db.session.commit()
    assert registration.complete(pending_id) is None
    assert len(contacts()) == 1


def test_unconfirmed_registrations_are_purged_by_the_cron_job(client, app):
    from workers import periodic

    submit(client)
    submit(app.test_client(), email="second@example.org")
    rows = db.session.scalars(select(PendingRegistration).order_by(PendingRegistration.created_at)).all()
    rows[0].created_at = utcnow() - timedelta(days=app.config["JOIN_PENDING_DAYS"], minutes=1)
    db.session.commit()
    result = periodic.purge_pending_registrations()
    assert result == {"purged": 1, "requeued": 0}
    assert pending_count() == 1


def test_the_cron_job_requeues_a_confirmation_whose_job_was_lost(client, app):
    from crm.jobs import get_queue
    from workers import periodic

    submit(client)
    [pending] = db.session.scalars(select(PendingRegistration)).all()
    pending.confirmed_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert periodic.purge_pending_registrations() == {"purged": 0, "requeued": 1}
    jobs = get_queue("default").get_jobs()
    assert [(j.func_name, j.args) for j in jobs] == [("workers.jobs.complete_registration", [str(pending.id)])]


def test_the_pending_row_holds_ciphertext_only(client, app):
    submit(client)
    row = db.session.execute(select(PendingRegistration.__table__)).mappings().one()
    raw = b"".join(v for v in row.values() if isinstance(v, bytes))
    for marker in ("Alesia", "alesia.testova", "600 300 401", "Wrocław".encode().decode(), "volunteering"):
        assert marker.encode() not in raw
    assert row["email_token"] is not None and row["phone_token"] is not None
    assert len(row["token_hash"]) == 64
