"""The contact page's trust-and-safety panel: the safety form (optimistic locking, errors,
audit without values), vouching in one's own name and for a member, and the do-not-contact
marks on lists (issue 8 items 1 and 5)."""
import html
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from crm.extensions import db
from crm.models import Attendance, AuditEvent, Contact, PathChoice
from crm.services import followups, trust
from crm.services.meetings import MeetingData, create_meeting
from tests.auth_helpers import csrf_token


def safety_form(client, contact_id):
    page = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    start = page.index(f'action="/contacts/{contact_id}/safety"')
    form = page[start:page.index("</form>", start)]
    fields = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value and "hidden" in tag:
            fields[name.group(1)] = html.unescape(value.group(1))
    return fields


def contact(contact_id):
    db.session.expire_all()
    return db.session.get(Contact, contact_id)


def test_safety_form_saves_and_audits_field_names_only(make_contact, signed_in):
    coordinator = signed_in("coordinator")
    person = make_contact("Irena Bezpieczna", email="irena@example.org", phone="+48600200300")
    sent = safety_form(coordinator, person.id) | {"do_not_email": "y", "do_not_text": "y", "safe_channel": "signal",
                                                  "safe_times": "SafeTimesMarker weekdays after 18"}
    response = coordinator.post(f"/contacts/{person.id}/safety", data=sent)
    assert response.status_code == 302
    saved = contact(person.id)
    assert (saved.do_not_email, saved.do_not_text, saved.do_not_call, saved.safe_channel) == (True, True, False, "signal")
    assert saved.safe_times == "SafeTimesMarker weekdays after 18"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.safety")).one()
    assert event.details["fields"] == ["do_not_email", "do_not_text", "safe_channel", "safe_times"]
    assert "SafeTimesMarker" not in str(event.details)
    page = coordinator.get(f"/contacts/{person.id}").get_data(as_text=True)
    email_cell = page[page.index("irena@example.org"):][:200]
    assert "Do not email" in email_cell
    phone_cell = page[page.index("+48 600 200 300"):][:200]
    assert "Do not text" in phone_cell and "Do not call" not in phone_cell


def test_a_concurrent_change_is_shown_not_overwritten(make_contact, signed_in):
    first, second = signed_in("coordinator"), signed_in("coordinator")
    person = make_contact("Piotr Równoczesny")
    stale = safety_form(first, person.id)
    trust.update_safety(contact(person.id), trust.SafetyData(do_not_call=True), second.user)
    db.session.commit()
    response = first.post(f"/contacts/{person.id}/safety", data=stale | {"do_not_email": "y"})
    assert response.status_code == 409
    assert "Someone else changed these fields meanwhile: do_not_call" in response.get_data(as_text=True)
    assert (contact(person.id).do_not_email, contact(person.id).do_not_call) == (False, True)
    # The page now carries the current version: saving again goes through (what was ticked is kept).
    page = response.get_data(as_text=True)
    start = page.index(f'action="/contacts/{person.id}/safety"')
    form = page[start:page.index("</form>", start)]
    fresh = {m[0]: html.unescape(m[1]) for m in re.findall(r'name="(csrf_token|version_id|seen)"[^>]*value="([^"]*)"', form)}
    assert re.search(r'<input checked[^>]*name="do_not_email"', form)  # what the user ticked is kept
    assert first.post(f"/contacts/{person.id}/safety", data=fresh | {"do_not_email": "y", "do_not_call": "y"}
                      ).status_code == 302
    assert (contact(person.id).do_not_email, contact(person.id).do_not_call) == (True, True)


def test_bad_safety_input_is_a_400_next_to_the_field(make_contact, signed_in):
    coordinator = signed_in("coordinator")
    person = make_contact("Olek Błędny")
    form = safety_form(coordinator, person.id)
    bad = coordinator.post(f"/contacts/{person.id}/safety", data=form | {"safe_channel": "pigeon"})
    assert bad.status_code == 400
    assert 'id="safe_channel-error">Choose one of the listed channels.' in bad.get_data(as_text=True)
    long = coordinator.post(f"/contacts/{person.id}/safety", data=form | {"safe_times": "x" * 501})
    assert long.status_code == 400 and 'id="safe_times-error">is too long' in long.get_data(as_text=True)
    expired = coordinator.post(f"/contacts/{person.id}/safety", data={"do_not_email": "y"})
    assert expired.status_code == 400
    assert contact(person.id).do_not_email is False and contact(person.id).safe_channel is None


def test_relatives_at_risk_set_without_clearance_hides_the_record(make_contact, signed_in):
    coordinator = signed_in("coordinator", clearance=False)
    person = make_contact("Maria Zagrożona", paths=("volunteering",))
    response = coordinator.post(f"/contacts/{person.id}/safety",
                                data=safety_form(coordinator, person.id) | {"relatives_at_risk": "y"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/contacts/")
    assert coordinator.get(f"/contacts/{person.id}").status_code == 404
    assert contact(person.id).relatives_at_risk is True


def test_vouch_in_own_name_needs_clearance(make_contact, signed_in):
    cleared, plain = signed_in("coordinator", clearance=True), signed_in("coordinator", clearance=False)
    person = make_contact("Tomasz Poręczony", source="self")
    page = plain.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert "Vouch for this person in my own name" not in page
    refused = plain.post(f"/contacts/{person.id}/vouch", data={"csrf_token": csrf_token(plain, f"/contacts/{person.id}")},
                         follow_redirects=True)
    assert "Only a coordinator with clearance can vouch" in refused.get_data(as_text=True)
    assert contact(person.id).trust_level == "unverified"
    assert db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "trust.vouch_refused")).all() == [
        {"reason": "no_clearance"}]

    page = cleared.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert "Vouch for this person in my own name" in page
    done = cleared.post(f"/contacts/{person.id}/vouch", data={"csrf_token": csrf_token(cleared, f"/contacts/{person.id}")},
                        follow_redirects=True)
    text = done.get_data(as_text=True)
    assert contact(person.id).trust_level == "vouched"
    assert f"vouched for by {cleared.user.login}" in text
    assert "Vouch for this person in my own name" not in text  # nothing more to vouch


def _vetted_member(make_contact, name, paths=("volunteering",)):
    member = make_contact(name, paths=paths)
    # Set directly: a restricted path reaches active only through the two-person rule.
    db.session.execute(update(PathChoice).where(PathChoice.contact_id == member.id).values(stage="active"))
    member = contact(member.id)
    member.trust_level = "vetted"
    db.session.commit()
    return member.id


def test_record_a_members_vouch_chosen_by_search(make_contact, signed_in):
    coordinator = signed_in("coordinator", clearance=False)
    person = make_contact("Ewa Nowicjuszka", source="self")
    member = _vetted_member(make_contact, "Karol Weteran")
    hidden = _vetted_member(make_contact, "Karol Tajny", paths=("combat_service",))
    not_vetted = make_contact("Karol Zwykły", paths=("volunteering",)).id
    token = csrf_token(coordinator, f"/contacts/{person.id}")
    found = coordinator.post(f"/contacts/{person.id}/vouch/members", data={"q": "Karol", "csrf_token": token})
    page = found.get_data(as_text=True)
    assert found.status_code == 200
    assert "Karol Weteran" in page and "Karol Tajny" not in page and "Karol Zwykły" not in page
    assert f'value="{member}"' in page and f'value="{not_vetted}"' not in page
    empty = coordinator.post(f"/contacts/{person.id}/vouch/members", data={"q": " ", "csrf_token": token})
    assert empty.status_code == 400 and "Type a name" in empty.get_data(as_text=True)

    # A member the user may not see is refused like an unknown one; nothing changes.
    sneaky = coordinator.post(f"/contacts/{person.id}/vouch", data={"member_id": str(hidden), "csrf_token": token},
                              follow_redirects=True)
    assert "Choose a member from the search results." in sneaky.get_data(as_text=True)
    assert contact(person.id).trust_level == "unverified"

    done = coordinator.post(f"/contacts/{person.id}/vouch", data={"member_id": str(member), "csrf_token": token},
                            follow_redirects=True)
    assert contact(person.id).trust_level == "vouched"
    assert contact(person.id).vouched_by_contact_id == member
    assert f"vouched for by the member Karol Weteran, recorded by {coordinator.user.login}" in done.get_data(as_text=True)


def test_do_not_contact_marks_on_call_and_message_follow_ups(make_contact, signed_in):
    coordinator = signed_in("coordinator")
    person = make_contact("Leon Cichy")
    trust.update_safety(contact(person.id), trust.SafetyData(do_not_call=True, do_not_text=True), coordinator.user)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    for kind in ("call", "message", "meeting"):
        followups.create(person.id, kind, tomorrow, coordinator.user)
    db.session.commit()
    page = coordinator.get(f"/contacts/{person.id}").get_data(as_text=True)
    rows = re.findall(r'<tr id="fu-[^"]+".*?</tr>', page, flags=re.S)
    marks = sorted(("Do not call" in row, "Do not text" in row) for row in rows)
    assert marks == [(False, False), (False, True), (True, False)]


def test_meeting_attendees_show_the_trust_level(make_contact, signed_in):
    coordinator = signed_in("coordinator")
    meeting = create_meeting(MeetingData(city="Gdynia", country="PL", starts_at=datetime(2026, 11, 20, 18)))
    person = make_contact("Nina Obecna", source="self")
    db.session.add(Attendance(meeting_id=meeting.id, contact_id=person.id))
    db.session.commit()
    page = coordinator.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    row = page[page.index("Nina Obecna"):][:300]
    assert 'class="badge trust-unverified">Unverified' in row


def test_duplicate_pairs_show_the_trust_level(make_contact, signed_in):
    from crm.services import duplicates

    coordinator = signed_in("coordinator")
    make_contact("Zuzanna Podwójna", email="zuza@example.org", source="self")
    make_contact("Zuzanna Podwójna", email="zuza@example.org")
    duplicates.refresh_candidates()
    db.session.commit()
    page = coordinator.get("/duplicates/").get_data(as_text=True)
    assert 'class="badge trust-unverified">Unverified' in page
    assert 'class="badge trust-met">Met in person' in page
