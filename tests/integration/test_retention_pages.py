"""Retention: an archived person is hidden on every surface; the admin page, holds and restores."""
import re
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from crm.extensions import db
from crm.models import Attendance, AuditEvent, Contact, FollowUp, RetentionHold
from crm.security import permissions
from crm.services import duplicates, exports, followups, meetings, overview, retention, triage
from crm.services.contacts import move_stage
from crm.services.meetings import MeetingData, create_meeting
from crm.services.triage import QueueFilters
from tests.auth_helpers import csrf_token
from tests.integration.test_retention import CONFIG, DAY, T, age, events

ARCHIVE_DAY = T + 365 * DAY


def _declined(make_contact, name, email, **fields):
    contact = make_contact(name, email=email, paths=("volunteering",), **fields)
    move_stage(contact.id, "volunteering", "declined")
    db.session.commit()
    age(contact.id)
    return contact.id


def _search(client, query):
    response = client.post("/contacts/", data={"q": query, "csrf_token": csrf_token(client, "/contacts/")})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_archived_person_is_hidden_on_every_surface(make_contact, make_user, signed_in):
    admin_client = signed_in("admin", clearance=True)
    admin = admin_client.user
    meeting = create_meeting(MeetingData(city="Poznań", country="PL", starts_at=datetime(2026, 11, 20, 18)))
    db.session.commit()
    ids = {}
    for name, email in (("Hanna Ukryta", "hanna.hidden@example.org"), ("Hanna Widoczna", "hanna.shown@example.org")):
        ids[name] = _declined(make_contact, name, email, phone="+48600111222")  # same phone: a duplicate pair
        db.session.add(Attendance(meeting_id=meeting.id, contact_id=ids[name]))
        followups.create(ids[name], "call", (datetime.now(UTC) + DAY).date(), admin)
        db.session.commit()
        age(ids[name])  # the attendance too
    hidden, shown = ids["Hanna Ukryta"], ids["Hanna Widoczna"]
    db.session.execute(update(Contact).where(Contact.id == shown).values(created_at=datetime.now(UTC)))
    db.session.commit()
    duplicates.refresh_candidates()
    db.session.commit()

    def surfaces():
        db.session.expire_all()
        everyone = QueueFilters(status="any", assignee="any")
        return {
            "triage": set(db.session.scalars(triage.queue_statement(everyone, admin, select(Contact.id)))),
            "export": exports.count_matching(everyone, admin),
            "meeting": {c.id for c in meetings.visible_attendees(meeting, admin)},
            "meeting_count": meetings.visible_count(meeting, admin),
            "followups": {f.contact_id for f in db.session.scalars(permissions.visible_followups(
                select(FollowUp), admin))},
            "duplicates": len(db.session.execute(duplicates.pairs_statement(admin)).all()),
            "home": overview.home_figures(admin).contacts,
        }

    before = surfaces()
    assert before["triage"] == {hidden, shown} and before["export"] == 2 and before["meeting_count"] == 2
    assert before["followups"] == {hidden, shown} and before["duplicates"] == 1 and before["home"] == 2
    assert f"/contacts/{hidden}" in _search(admin_client, "hanna.hidden@example.org")

    assert retention.run(CONFIG, now=ARCHIVE_DAY) == {"archived": 1, "erased": 0}
    after = surfaces()
    assert after["triage"] == {shown} and after["export"] == 1
    assert after["meeting"] == {shown} and after["meeting_count"] == 1
    assert after["followups"] == {shown} and after["duplicates"] == 0 and after["home"] == 1
    for query in ("hanna.hidden@example.org", "Hanna Ukryta", "+48600111222"):
        assert f"/contacts/{hidden}" not in _search(admin_client, query)
    assert admin_client.get(f"/contacts/{hidden}").status_code == 404
    assert admin_client.get(f"/contacts/{hidden}/edit").status_code == 404
    assert "Hanna Ukryta" not in admin_client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert "Hanna Ukryta" not in admin_client.get("/followups/team").get_data(as_text=True)
    assert "Hanna Ukryta" not in admin_client.get("/triage/?status=any&assignee=any").get_data(as_text=True)
    assert "Hanna Ukryta" not in admin_client.get("/duplicates/").get_data(as_text=True)


def test_retention_page_forecast_hold_release_restore(make_contact, signed_in):
    admin = signed_in("admin", clearance=True)
    now = datetime.now(UTC)
    soon = _declined(make_contact, "Zofia Wkrótce", "zofia@example.org")
    age(soon, now - 365 * DAY + 5 * DAY)  # archived in 5 days
    gone = _declined(make_contact, "Olga Archiwalna", "olga@example.org")
    retention.run(CONFIG, now=ARCHIVE_DAY)  # archived long ago: erased at the next run
    db.session.commit()

    page = admin.get("/admin/retention")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Zofia Wkrótce" in html and "Olga Archiwalna" in html
    shown = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.view")).all()[-1]
    assert set(shown.details["contacts"]) == {str(soon), str(gone)}

    token = csrf_token(admin, "/admin/retention")
    bad = admin.post(f"/admin/retention/{soon}/hold", data={"reason": "  ", "csrf_token": token})
    assert bad.status_code == 400 and "Give a reason." in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count(RetentionHold.id))) == 0
    assert admin.post(f"/admin/retention/{soon}/hold", data={"reason": "Legal hold 12/2026",
                                                              "csrf_token": token}).status_code == 302
    html = admin.get("/admin/retention").get_data(as_text=True)
    assert "Legal hold 12/2026" in html
    twice = admin.post(f"/admin/retention/{soon}/hold", data={"reason": "again", "csrf_token": token})
    assert twice.status_code == 400 and "already held" in twice.get_data(as_text=True)
    assert admin.post(f"/admin/retention/{soon}/release", data={"csrf_token": token}).status_code == 302
    assert db.session.scalar(select(func.count(RetentionHold.id))) == 0
    assert [e.action for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.like("retention.%"), AuditEvent.target_id == str(soon)))] == [
        "retention.hold", "retention.release"]

    assert admin.get(f"/contacts/{gone}").status_code == 404
    restored = admin.post(f"/admin/retention/{gone}/restore", data={"reason": "Came back to a meeting",
                                                                    "csrf_token": token})
    assert restored.status_code == 302
    assert admin.get(f"/contacts/{gone}").status_code == 200
    assert events("retention.restored", gone)


def test_retention_page_is_for_admins_only(signed_in, make_contact):
    cid = _declined(make_contact, "Ala Ktoś", "ala@example.org")
    for role in ("coordinator", "staff"):
        client = signed_in(role, clearance=True)
        assert client.get("/admin/retention").status_code == 403
        token = csrf_token(client, "/contacts/")
        assert client.post(f"/admin/retention/{cid}/hold", data={"reason": "x", "csrf_token": token}).status_code == 403


def test_page_lists_no_restricted_person_to_an_admin_without_clearance(signed_in, make_contact):
    admin = signed_in("admin", clearance=False)
    contact = make_contact("Roman Zastrzeżony", paths=("combat_service",))
    move_stage(contact.id, "combat_service", "declined")
    db.session.commit()
    age(contact.id, datetime.now(UTC) - 365 * DAY + DAY)
    html = admin.get("/admin/retention").get_data(as_text=True)
    assert "Roman Zastrzeżony" not in html
    assert re.search(r"<td>1</td>", html)  # still counted (a number, no name)
    token = csrf_token(admin, "/contacts/")
    assert admin.post(f"/admin/retention/{contact.id}/hold",
                      data={"reason": "x", "csrf_token": token}).status_code == 404


def test_page_rows_take_the_first_visible_ones_chunk_by_chunk(make_contact, make_user, monkeypatch):
    admin = make_user("admin-no-clearance", "admin", clearance=False)[0]
    ids = []
    for n in range(6):
        paths = ("combat_service",) if n in (0, 3) else ("volunteering",)
        contact = make_contact(f"Osoba {n}", paths=paths)
        ids.append(contact.id)
    dues = [retention.Due(i, "stale", T) for i in ids]
    monkeypatch.setattr(retention, "SHOWN", 3)
    rows, more = retention.page_rows(admin, dues, chunk=2)
    assert [c.id for _d, c in rows] == [ids[1], ids[2], ids[4]]  # the restricted ones are skipped
    assert more == 3
