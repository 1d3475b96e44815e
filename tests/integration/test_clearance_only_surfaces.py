"""A clearance-only record (an active restricted path, or relatives at risk at home) does not
exist for users without clearance on any surface: contact page (404, audited), search by
email, phone and name, triage list and counts, meeting page lists and counts, follow-up
queues and counts, exports (rows and counts), staff digest and summary counts, duplicates."""
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, Contact, FollowUp
from crm.models.base import utcnow
from crm.services import approvals, duplicates, exports, followup_mail, followup_queues, trust, vetting
from crm.services.capture import CaptureData, capture
from crm.services.meetings import MeetingData, create_meeting
from crm.services.triage import QueueFilters
from tests.auth_helpers import csrf_token

HIDDEN_NAMES = ("Zoryana Secretova", "Relatyva Riskova")


@pytest.fixture
def scene(make_user, signed_in):
    """Three people met at one meeting, on open paths; two then become clearance-only."""
    ann = signed_in("coordinator", clearance=True, login="ann")
    bob = make_user("bob", "coordinator", clearance=True)[0]
    plain = signed_in("coordinator", login="plain")
    staff = signed_in("staff", login="staffer")
    meeting = create_meeting(MeetingData(city="Gdańsk", country="PL", starts_at=datetime(2026, 11, 20, 18)))
    db.session.commit()
    people = {}
    for key, name, email, phone, paths in [
            ("active", HIDDEN_NAMES[0], "zoryana@example.org", "+48 600 111 222", ("volunteering", "combat_service")),
            ("relatives", HIDDEN_NAMES[1], "relatyva@example.org", "+48 600 333 444", ("volunteering",)),
            ("open", "Otto Openov", "otto@example.org", "+48 600 555 666", ("volunteering",))]:
        people[key] = capture(meeting, CaptureData(full_name=name, email=email, phone=phone, paths=paths),
                              ann.user, "v1", create_anyway=True).contact
        db.session.commit()
    # A twin of the active member (same email): a duplicate pair that must not show either.
    people["twin"] = capture(meeting, CaptureData(full_name="Z. S.", email="zoryana@example.org",
                                                  paths=("volunteering",)), ann.user, "v1",
                             create_anyway=True).contact
    db.session.commit()
    due = utcnow() - timedelta(days=1)
    for key in ("active", "relatives", "open"):
        db.session.add(FollowUp(contact_id=people[key].id, path="volunteering", kind="call", status="open",
                                assignee_id=staff.user.id, due_at=due))
        people[key].assignee_id = staff.user.id
    db.session.commit()
    for stage in ("screening", "active"):
        item = vetting.request_stage(db.session.get(Contact, people["active"].id), ann.user, "combat_service",
                                     stage, "screened")
        approvals.approve(item.id, bob, "agreed")
        db.session.commit()
    trust.update_safety(db.session.get(Contact, people["relatives"].id),
                        trust.SafetyData(relatives_at_risk=True), ann.user)
    db.session.commit()
    # Work given later to an uncleared coordinator on the hidden records (bypassing the services).
    for key in ("active", "relatives"):
        db.session.add(FollowUp(contact_id=people[key].id, path="volunteering", kind="call", status="open",
                                assignee_id=plain.user.id, due_at=due))
    db.session.commit()
    return {"ann": ann, "plain": plain, "staff": staff, "meeting": meeting, "people": people}


def hidden_ids(scene):
    return {scene["people"]["active"].id, scene["people"]["relatives"].id}


def assert_clean(body, where):
    body = re.sub(r'<input[^>]*name="q"[^>]*>', "", body)
    # (The twin, visible, shares the active member's email: only names and the other address here.)
    for text in (*HIDDEN_NAMES, "relatyva@", "Combat service"):
        assert text not in body, (where, text)


def test_the_records_became_clearance_only_and_were_handed_back(scene):
    for key in ("active", "relatives"):
        contact = db.session.get(Contact, scene["people"][key].id)
        assert contact.clearance_only is True and contact.assignee_id is None
    assert db.session.get(Contact, scene["people"]["open"].id).assignee_id == scene["staff"].user.id


def test_contact_pages_answer_404_and_the_denial_is_audited(scene):
    for who in ("plain", "staff"):
        client = scene[who]
        for contact_id in hidden_ids(scene):
            assert client.get(f"/contacts/{contact_id}").status_code == 404
            assert client.get(f"/contacts/{contact_id}/edit").status_code == 404
    denied = db.session.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "contact.view_denied"))
    assert {str(i) for i in hidden_ids(scene)} <= set(denied)
    for contact_id in hidden_ids(scene):
        assert scene["ann"].get(f"/contacts/{contact_id}").status_code == 200


def test_search_by_email_phone_and_name(scene):
    plain, ann = scene["plain"], scene["ann"]
    token = csrf_token(plain, "/contacts/")
    for query in ("zoryana@example.org", "+48 600 111 222", "Zoryana Secretova", "relatyva@example.org",
                  "600 333 444", "Relatyva"):
        body = plain.post("/contacts/", data={"q": query, "csrf_token": token}).get_data(as_text=True)
        assert_clean(body, query)
    ann_token = csrf_token(ann, "/contacts/")
    assert HIDDEN_NAMES[0] in ann.post("/contacts/", data={"q": "zoryana@example.org", "csrf_token": ann_token}
                                       ).get_data(as_text=True)


def test_triage_list_and_counts(scene):
    plain, ann = scene["plain"], scene["ann"]
    for query in ("", "?status=any&assignee=any", f"?meeting={scene['meeting'].id}&status=any&assignee=any"):
        body = plain.get(f"/triage/{query}").get_data(as_text=True)
        assert_clean(body, query)
    assert "2 contacts match" in plain.get("/triage/?status=any&assignee=any").get_data(as_text=True)
    assert "4 contacts match" in ann.get("/triage/?status=any&assignee=any").get_data(as_text=True)


def test_meeting_page_lists_and_counts(scene):
    meeting_id = scene["meeting"].id
    body = scene["plain"].get(f"/meetings/{meeting_id}").get_data(as_text=True)
    assert_clean(body, "meeting")
    assert "2 people recorded here" in body
    assert "4 people recorded here" in scene["ann"].get(f"/meetings/{meeting_id}").get_data(as_text=True)
    assert_clean(scene["plain"].get("/meetings/").get_data(as_text=True), "meetings")


def test_followup_queues_and_counts(scene):
    plain = db.session.get(type(scene["plain"].user), scene["plain"].user.id)
    staff = db.session.get(type(scene["staff"].user), scene["staff"].user.id)
    assert followup_queues.nav_counts(plain)["overdue"] == 0  # both of plain's are on hidden records
    assert followup_queues.nav_counts(staff)["overdue"] == 1  # the open record's; the others were handed back
    team = followup_queues.team_queue(plain)
    assert {f.contact_id for f in team.rows} == {scene["people"]["open"].id} and team.total == 1
    ann = db.session.get(type(scene["ann"].user), scene["ann"].user.id)
    assert followup_queues.team_queue(ann).total == 5
    db.session.commit()  # the queue views are audited: end the test's transaction before the pages
    for page in ("/followups/", "/followups/team"):
        assert_clean(scene["plain"].get(page).get_data(as_text=True), page)


def test_staff_digest_and_summary_counts(scene):
    today = utcnow().date()
    counts = followup_mail.digest_counts(today)
    assert counts[scene["plain"].user.id].overdue == 0
    assert counts[scene["staff"].user.id].overdue == 1
    ann = db.session.get(type(scene["ann"].user), scene["ann"].user.id)
    plain = db.session.get(type(scene["plain"].user), scene["plain"].user.id)
    seen_by_plain = followup_mail.team_summary(plain, utcnow())
    seen_by_ann = followup_mail.team_summary(ann, utcnow())
    assert seen_by_plain["open"] == 1 and seen_by_ann["open"] == 5


def test_exports_rows_and_counts(scene):
    plain = db.session.get(type(scene["plain"].user), scene["plain"].user.id)
    ann = db.session.get(type(scene["ann"].user), scene["ann"].user.id)
    everyone = QueueFilters(status="any", assignee="any")
    assert exports.count_matching(everyone, plain) == 2
    assert exports.count_matching(everyone, ann) == 4
    db.session.commit()
    assert_clean(scene["plain"].get("/exports/new").get_data(as_text=True), "export form")
    # The rows of a built file: the canary and the two people plain may see, nobody else.
    from tests.integration.test_exports import csv_rows, download, request_and_build

    built = request_and_build(plain, columns=("full_name", "email", "paths"))
    assert built.status == "ready" and built.row_count == 2
    text = "\n".join(",".join(row) for row in csv_rows(download(plain, built)))
    assert "Otto Openov" in text and "Z. S." in text
    for hidden in (*HIDDEN_NAMES, "relatyva@", "Combat service", "combat_service"):
        assert hidden not in text


def test_duplicates_page(scene):
    duplicates.refresh_candidates()
    db.session.commit()
    plain = db.session.get(type(scene["plain"].user), scene["plain"].user.id)
    ann = db.session.get(type(scene["ann"].user), scene["ann"].user.id)
    pairs = lambda user: {frozenset((p.low.id, p.high.id)) for p in duplicates.pair_page(user).pairs}  # noqa: E731
    twin_pair = frozenset((scene["people"]["active"].id, scene["people"]["twin"].id))
    assert twin_pair in pairs(ann)
    assert twin_pair not in pairs(plain)
    db.session.commit()  # (audited views) end the test's transaction before the page
    assert_clean(scene["plain"].get("/duplicates/").get_data(as_text=True), "duplicates")
