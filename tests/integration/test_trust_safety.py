"""Trust levels, quarantine, vouching, safety fields and the do-not-email gate (issue 8, items 1 and 5)."""
from datetime import datetime

import pytest
from sqlalchemy import func, select

from crm.errors import ServiceError
from crm.extensions import db
from crm.models import AuditEvent, Contact, Outbox
from crm.security import permissions
from crm.services import mail, mail_delivery, rights, trust
from crm.services.capture import CaptureData, capture
from crm.services.contacts import ContactData, ValidationError, create_contacts_bulk, move_stage
from crm.services.meetings import MeetingData, create_meeting
from tests.auth_helpers import csrf_token


def events(action, contact_id=None):
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if contact_id is not None:
        stmt = stmt.where(AuditEvent.target_id == str(contact_id))
    return list(db.session.scalars(stmt.order_by(AuditEvent.id)))


def seen_by(user):
    return set(db.session.scalars(permissions.visible_contacts(select(Contact.id), user)))


def test_initial_trust_by_source_one_by_one_and_in_bulk(make_contact):
    assert make_contact(source="meeting").trust_level == "met"
    assert make_contact(source="self").trust_level == "unverified"
    assert make_contact(source="import").trust_level == "unverified"
    ids = create_contacts_bulk([ContactData(full_name="A B", source="self"),
                                ContactData(full_name="C D", source="meeting")])
    db.session.commit()
    assert [db.session.get(Contact, i).trust_level for i in ids] == ["unverified", "met"]


def test_unverified_is_quarantined_from_staff_even_when_assigned(make_contact, make_user):
    staff = make_user("staff1", "staff")[0]
    coordinator = make_user("coord1", "coordinator")[0]
    hidden = make_contact(source="self", paths=("volunteering",))
    shown = make_contact(source="meeting", paths=("volunteering",))
    hidden.assignee_id = shown.assignee_id = staff.id
    db.session.commit()
    assert seen_by(staff) == {shown.id}
    assert not permissions.can(staff, "contacts.view", hidden)
    assert seen_by(coordinator) == {hidden.id, shown.id}

    assert trust.mark_met([hidden.id]) == 1
    db.session.commit()
    assert seen_by(staff) == {hidden.id, shown.id}
    assert permissions.can(staff, "contacts.view", db.session.get(Contact, hidden.id))
    assert events("trust.change", hidden.id)[0].details["to_level"] == "met"


def test_quarantined_contact_page_is_404_for_staff(make_contact, signed_in):
    staff = signed_in("staff")
    coordinator = signed_in("coordinator")
    contact = make_contact(source="self")
    contact.assignee_id = staff.user.id
    db.session.commit()
    assert staff.get(f"/contacts/{contact.id}").status_code == 404
    assert coordinator.get(f"/contacts/{contact.id}").status_code == 200


def test_attaching_an_attendance_raises_unverified_to_met(make_contact, make_user):
    coordinator = make_user("coord", "coordinator")[0]
    contact = make_contact("Jonas Testas", email="jonas@example.org", source="self")
    meeting = create_meeting(MeetingData(city="Vilnius", country="LT", starts_at=datetime(2026, 11, 20, 18)))
    db.session.commit()
    capture(meeting, CaptureData(full_name="Jonas Testas", email="jonas@example.org"), coordinator, "v1",
            attach_to=contact.id)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).trust_level == "met"


def test_restricted_path_stays_at_interested_while_unverified(make_contact):
    contact = make_contact(source="self", paths=("combat_service", "volunteering"))
    with pytest.raises(ServiceError, match="unverified"):
        move_stage(contact.id, "combat_service", "contacted")
    with pytest.raises(ServiceError, match="unverified"):
        move_stage(contact.id, "reserve_training", "screening")  # a new path too
    db.session.rollback()
    assert move_stage(contact.id, "volunteering", "active") is not None  # other paths move freely
    assert move_stage(contact.id, "combat_service", "withdrawn") is not None  # closing is allowed
    db.session.commit()
    trust.mark_met([contact.id])
    assert move_stage(contact.id, "combat_service", "interested") is not None
    assert move_stage(contact.id, "combat_service", "contacted") is not None


def test_vouch_by_a_cleared_coordinator_records_who(make_contact, make_user):
    coordinator = make_user("coord", "coordinator", clearance=True)[0]
    contact = make_contact(source="self")
    assert trust.vouch(contact, coordinator) is True
    db.session.commit()
    db.session.expire_all()
    contact = db.session.get(Contact, contact.id)
    assert (contact.trust_level, contact.vouched_by_user_id, contact.vouched_by_contact_id) == (
        "vouched", coordinator.id, None)
    assert trust.vouch(contact, coordinator) is False  # twice: a clean no-op, audited
    db.session.commit()
    assert len(events("trust.vouch_noop", contact.id)) == 1


def test_vouch_on_behalf_of_an_active_vetted_member(make_contact, make_user):
    coordinator = make_user("coord", "coordinator")[0]
    member = make_contact(source="meeting", paths=("volunteering",))
    contact = make_contact(source="self")
    with pytest.raises(trust.TrustRefused):
        trust.vouch(contact, coordinator, on_behalf_of=member)  # met, not vetted
    db.session.commit()
    member.trust_level = "vetted"
    move_stage(member.id, "volunteering", "active")
    db.session.commit()
    assert trust.vouch(contact, coordinator, on_behalf_of=member) is True
    db.session.commit()
    assert db.session.get(Contact, contact.id).vouched_by_contact_id == member.id
    assert [e.details["reason"] for e in events("trust.vouch_refused", contact.id)] == ["voucher_not_vetted"]


def test_vouching_for_yourself_is_refused_and_audited(make_contact, make_user):
    coordinator = make_user("coord", "coordinator", clearance=True)[0]
    coordinator.email = "me@example.org"
    member = make_contact(source="meeting", email="Me@Example.org")
    member.trust_level = "vetted"
    db.session.commit()
    move_stage(member.id, "volunteering", "active")
    db.session.commit()
    me_as_contact = db.session.get(Contact, member.id)
    with pytest.raises(trust.TrustRefused, match="yourself"):
        trust.vouch(me_as_contact, coordinator)
    db.session.commit()
    with pytest.raises(trust.TrustRefused, match="themselves"):
        trust.vouch(me_as_contact, coordinator, on_behalf_of=me_as_contact)
    db.session.commit()
    assert [e.details["reason"] for e in events("trust.vouch_refused", member.id)] == ["self", "self"]
    assert db.session.get(Contact, member.id).trust_level == "vetted"


def test_vouch_needs_clearance_or_a_member_and_staff_may_not(make_contact, make_user):
    uncleared = make_user("coord", "coordinator")[0]
    staff = make_user("staff", "staff", clearance=True)[0]
    contact = make_contact(source="meeting")
    contact.assignee_id = staff.id
    db.session.commit()
    with pytest.raises(trust.TrustRefused):
        trust.vouch(contact, uncleared)
    with pytest.raises(trust.TrustRefused):
        trust.vouch(contact, staff)
    db.session.commit()
    assert db.session.get(Contact, contact.id).trust_level == "met"
    assert sorted(e.details["reason"] for e in events("trust.vouch_refused")) == ["no_clearance", "not_allowed"]


def test_relatives_at_risk_make_the_record_clearance_only(make_contact, make_user):
    plain = make_user("coord", "coordinator")[0]
    cleared = make_user("cleared", "coordinator", clearance=True)[0]
    contact = make_contact(source="meeting", paths=("volunteering",))
    changed = trust.update_safety(contact, trust.SafetyData(relatives_at_risk=True, do_not_call=True,
                                                            safe_channel="signal", safe_times="evenings"),
                                  cleared)
    db.session.commit()
    assert changed == ["do_not_call", "relatives_at_risk", "safe_channel", "safe_times"]
    assert contact.id not in seen_by(plain)
    assert not permissions.can(plain, "contacts.view", db.session.get(Contact, contact.id))
    assert contact.id in seen_by(cleared)
    raw = db.session.execute(select(Contact.safe_times_ct).where(Contact.id == contact.id)).scalar()
    assert b"evenings" not in raw
    event = events("contact.safety", contact.id)[0]
    assert "evenings" not in str(event.details)


@pytest.mark.parametrize("field, data", [
    ("safe_channel", trust.SafetyData(safe_channel="carrier pigeon")),
    ("safe_times", trust.SafetyData(safe_times="x" * 501)),
    ("safe_times", trust.SafetyData(safe_times="at\x00night")),
    ("do_not_email", trust.SafetyData(do_not_email="yes")),
])
def test_bad_safety_input_names_the_field_and_saves_nothing(make_contact, make_user, field, data):
    coordinator = make_user("coord", "coordinator")[0]
    contact = make_contact(source="meeting")
    with pytest.raises(ValidationError) as raised:
        trust.update_safety(contact, data, coordinator)
    assert field in raised.value.errors
    db.session.rollback()
    contact = db.session.get(Contact, contact.id)
    assert (contact.safe_channel, contact.safe_times, contact.do_not_email) == (None, None, False)


def test_follow_up_warnings_for_do_not_call_and_text(make_contact):
    contact = make_contact(source="meeting")
    contact.do_not_call = contact.do_not_text = True
    assert trust.contact_warnings(contact, "call") and trust.contact_warnings(contact, "message")
    assert trust.contact_warnings(contact, "meeting") == []


# --- do not email ------------------------------------------------------------------

def _mail(to, key="k1", **extra):
    return mail.queue_mail(key=key, kind="rights_link", to=to, template="rights/link", locale="en",
                           context={"url": "https://example.org/x", "hours": 24}, **extra)


def test_queue_mail_refuses_a_do_not_email_contact(make_contact):
    make_contact(source="meeting", email="quiet@example.org")
    flagged = make_contact(source="meeting", email="Quiet2@example.org")
    flagged.do_not_email = True
    db.session.commit()
    assert _mail("quiet@example.org") is not None
    with pytest.raises(mail.DoNotEmail):
        _mail("quiet2@EXAMPLE.org", key="k2")
    db.session.commit()
    assert db.session.scalar(select(func.count(Outbox.id))) == 1
    assert events("mail.refused")[0].details == {"kind": "rights_link", "reason": "do_not_email"}
    with pytest.raises(ValueError):
        _mail("quiet2@example.org", key="k3", exempt="because")
    assert _mail("quiet2@example.org", key="k4", exempt="system_test") is not None


def test_send_job_refuses_mail_queued_before_the_flag(make_contact, app):
    contact = make_contact(source="meeting", email="later@example.org")
    outbox_id = _mail("later@example.org")
    db.session.commit()
    contact.do_not_email = True
    db.session.commit()
    assert mail_delivery.deliver(outbox_id) == "refused: do not email"
    row = db.session.get(Outbox, outbox_id)
    assert (row.status, row.last_error) == ("failed", "do-not-email")
    assert events("mail.refused")


def test_rights_link_is_withheld_from_a_do_not_email_contact(make_contact, app):
    contact = make_contact(source="meeting", email="asks@example.org")
    contact.do_not_email = True
    db.session.commit()
    with app.test_request_context():
        request_id = rights.ask_for_link("asks@example.org", "en")
        db.session.commit()
        assert rights.process_request(request_id, lambda token, locale: f"https://x/{token}") == 0
        db.session.commit()
    assert db.session.scalar(select(func.count(Outbox.id))) == 0
    assert events("rights.link_withheld", contact.id)


def test_contact_page_shows_trust_and_safety(make_contact, signed_in):
    coordinator = signed_in("coordinator", clearance=True)
    contact = make_contact(source="self")
    trust.update_safety(contact, trust.SafetyData(do_not_email=True, safe_channel="in_person_only",
                                                  safe_times="after 9 pm"), coordinator.user)
    db.session.commit()
    page = coordinator.get(f"/contacts/{contact.id}").get_data(as_text=True)
    for text in ("Unverified", "Do not email", "In person only", "after 9 pm"):
        assert text in page
    assert '<span class="badge warn">Do not email</span>' in page  # next to the address
    assert '<span class="badge warn">Do not call</span>' not in page  # the form still offers the box


def test_lists_show_trust_and_safety_badges(make_contact, signed_in):
    coordinator = signed_in("coordinator")
    contact = make_contact("Badge Person", source="self", email="badge@example.org")
    contact.do_not_call = True
    db.session.commit()
    queue = coordinator.get("/triage/").get_data(as_text=True)
    token = csrf_token(coordinator, "/contacts/")
    found = coordinator.post("/contacts/", data={"q": "badge@example.org", "csrf_token": token}).get_data(
        as_text=True)
    for page in (queue, found):
        assert "Badge Person" in page
        assert "Unverified" in page and "Do not call" in page
