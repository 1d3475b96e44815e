"""The two-person rule for restricted paths and vetting (issue 8 item 2), service and pages."""
import re

import pytest
from sqlalchemy import select, update

from crm.errors import ServiceError
from crm.extensions import db
from crm.models import ApprovalRequest, AuditEvent, Contact, FollowUp, PathChoice
from crm.services import approvals, triage, trust, vetting
from crm.services.approvals import ApprovalRefused
from crm.services.contacts import NeedsApproval, move_stage
from tests.auth_helpers import csrf_token


def events(action, target_id=None):
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    if target_id is not None:
        stmt = stmt.where(AuditEvent.target_id == str(target_id))
    return list(db.session.scalars(stmt))


@pytest.fixture
def team(make_user):
    return {
        "ann": make_user("ann", "coordinator", clearance=True)[0],
        "bob": make_user("bob", "coordinator", clearance=True)[0],
        "root": make_user("root", "admin", clearance=True)[0],
        "plain": make_user("plain", "coordinator")[0],
        "admin": make_user("uncleared-admin", "admin")[0],
        "staff": make_user("staff", "staff")[0],
    }


def stage_of(contact_id, path):
    return db.session.scalar(select(PathChoice.stage).where(PathChoice.contact_id == contact_id,
                                                            PathChoice.path == path))


@pytest.mark.parametrize("path", ["reserve_training", "combat_service"])
@pytest.mark.parametrize("stage", ["screening", "active"])
def test_a_direct_move_is_refused_for_every_caller(make_contact, team, path, stage):
    contact = make_contact(paths=(path, "volunteering"))
    with pytest.raises(NeedsApproval, match="needs two people"):
        move_stage(contact.id, path, stage, actor_id=team["ann"].id)
    with pytest.raises(NeedsApproval):
        triage.set_stage([contact.id], path, stage, team["root"])
    db.session.rollback()
    assert stage_of(contact.id, path) == "interested"
    # Stages outside the rule still move directly.
    assert move_stage(contact.id, path, "contacted") is not None
    assert move_stage(contact.id, "volunteering", "active") is not None


def test_an_approval_for_another_move_does_not_open_this_one(make_contact, team):
    contact = make_contact(paths=("combat_service", "reserve_training"))
    item = vetting.request_stage(contact, team["ann"], "combat_service", "screening", "ready")
    approvals.approve(item.id, team["bob"], "yes")
    db.session.commit()
    item = db.session.get(ApprovalRequest, item.id)
    with pytest.raises(NeedsApproval):
        move_stage(contact.id, "reserve_training", "screening", approval=item)
    with pytest.raises(NeedsApproval):
        move_stage(contact.id, "combat_service", "active", approval=item)


def test_request_then_another_cleared_coordinator_approves(make_contact, team):
    contact = make_contact(paths=("reserve_training",))
    item = vetting.request_stage(contact, team["ann"], "reserve_training", "screening", "Met twice, references ok")
    db.session.commit()
    assert stage_of(contact.id, "reserve_training") == "interested"
    with pytest.raises(ApprovalRefused, match="different person"):
        approvals.approve(item.id, team["ann"], "approving my own")
    db.session.commit()
    approvals.approve(item.id, team["root"], "agreed")
    db.session.commit()
    assert stage_of(contact.id, "reserve_training") == "screening"
    moved = events("path.stage", contact.id)[-1]
    assert moved.details["approval"] == str(item.id)
    assert [e.details["reason"] for e in events("approval.approve_refused", item.id)] == ["self"]
    with pytest.raises(ApprovalRefused, match="already been decided"):
        approvals.approve(item.id, team["bob"], "me too")


def test_who_may_ask_and_decide(make_contact, team):
    contact = make_contact(paths=("combat_service", "volunteering"))
    for who in ("plain", "admin"):
        with pytest.raises(ApprovalRefused, match="may not request"):
            vetting.request_stage(contact, team[who], "combat_service", "screening", "please")
    item = vetting.request_stage(contact, team["ann"], "combat_service", "screening", "please")
    db.session.commit()
    for who in ("plain", "admin"):  # without clearance the request does not exist for them
        with pytest.raises(ServiceError):
            approvals.approve(item.id, team[who], "yes")
        assert approvals.pending_count(team[who]) == 0
    assert approvals.pending_count(team["bob"]) == 1
    assert approvals.pending_count(team["ann"]) == 1  # her own, shown to her (not decidable)


def test_a_request_that_cannot_apply_is_refused_up_front(make_contact, team):
    unverified = make_contact(source="self", paths=("combat_service",))
    with pytest.raises(ApprovalRefused, match="unverified"):
        vetting.request_stage(unverified, team["ann"], "combat_service", "screening", "x")
    with pytest.raises(ApprovalRefused, match="unverified"):
        vetting.request_vetting(unverified, team["ann"], "x")
    closed = make_contact(paths=("reserve_training",))
    move_stage(closed.id, "reserve_training", "declined")
    with pytest.raises(ApprovalRefused, match="closed"):
        vetting.request_stage(closed, team["ann"], "reserve_training", "screening", "x")
    with pytest.raises(ApprovalRefused, match="Only moving a restricted path"):
        vetting.request_stage(closed, team["ann"], "volunteering", "screening", "x")
    first = vetting.request_stage(make_contact(paths=("reserve_training",)), team["ann"], "reserve_training",
                                  "active", "x")
    with pytest.raises(ApprovalRefused, match="already waiting"):
        vetting.request_stage(db.session.get(Contact, first.contact_id), team["bob"], "reserve_training",
                              "active", "y")
    db.session.commit()
    assert sorted(e.details["reason"] for e in events("approval.request_refused")) == ["duplicate"] + ["invalid"] * 4


def test_a_stale_request_is_refused_when_approved(make_contact, team):
    contact = make_contact(paths=("reserve_training",))
    item = vetting.request_stage(contact, team["ann"], "reserve_training", "screening", "ready")
    vet = vetting.request_vetting(contact, team["ann"], "screened")
    db.session.commit()
    move_stage(contact.id, "reserve_training", "withdrawn")  # the person withdrew meanwhile
    db.session.commit()
    with pytest.raises(ApprovalRefused, match="closed"):
        approvals.approve(item.id, team["bob"], "ok")
    db.session.commit()
    db.session.execute(update(Contact).where(Contact.id == contact.id).values(trust_level="unverified"))
    db.session.commit()
    with pytest.raises(ApprovalRefused, match="unverified"):
        approvals.approve(vet.id, team["bob"], "ok")
    db.session.commit()
    db.session.expire_all()
    assert stage_of(contact.id, "reserve_training") == "withdrawn"
    assert db.session.get(Contact, contact.id).trust_level == "unverified"
    assert db.session.get(ApprovalRequest, item.id).status == "pending"
    assert [e.details["reason"] for e in events("approval.approve_refused", item.id)] == ["stale"]


def test_vetted_only_through_an_approval(make_contact, team):
    contact = make_contact(paths=("volunteering",))
    with pytest.raises(trust.TrustRefused):
        trust.set_vetted(contact, team["root"], None)
    item = vetting.request_vetting(contact, team["ann"], "interviewed")
    db.session.commit()
    with pytest.raises(trust.TrustRefused):  # pending is not approved
        trust.set_vetted(contact, team["root"], item)
    db.session.rollback()
    approvals.approve(item.id, team["bob"], "confirmed")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).trust_level == "vetted"
    change = events("trust.change", contact.id)[-1]
    assert change.details["to_level"] == "vetted" and change.details["approval"] == str(item.id)
    assert change.details["requester"] == str(team["ann"].id)
    with pytest.raises(ApprovalRefused, match="already vetted"):
        vetting.request_vetting(db.session.get(Contact, contact.id), team["ann"], "again")


def test_becoming_clearance_only_hands_back_what_uncleared_users_hold(make_contact, team):
    contact = make_contact(paths=("combat_service", "volunteering"))
    contact.assignee_id = team["staff"].id
    held = FollowUp(contact_id=contact.id, path="volunteering", kind="call", status="open",
                    assignee_id=team["staff"].id)
    kept = FollowUp(contact_id=contact.id, path="combat_service", kind="interview", status="open",
                    assignee_id=team["bob"].id)
    db.session.add_all([held, kept])
    db.session.commit()
    for stage in ("screening", "active"):
        item = vetting.request_stage(db.session.get(Contact, contact.id), team["ann"], "combat_service", stage, "go")
        approvals.approve(item.id, team["bob"], "ok")
        db.session.commit()
    db.session.expire_all()
    contact = db.session.get(Contact, contact.id)
    assert contact.clearance_only is True and contact.assignee_id is None
    assert db.session.get(FollowUp, held.id).assignee_id is None
    assert db.session.get(FollowUp, kept.id).assignee_id == team["bob"].id
    assert events("contact.handed_back", contact.id)[0].details["previous_assignee"] == str(team["staff"].id)
    assert events("followup.handed_back", contact.id)[0].details["followups"] == [str(held.id)]


def test_relatives_at_risk_hand_back_too(make_contact, team):
    contact = make_contact(paths=("volunteering",))
    contact.assignee_id = team["staff"].id
    db.session.commit()
    trust.update_safety(contact, trust.SafetyData(relatives_at_risk=True), team["ann"])
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).assignee_id is None
    assert len(events("contact.handed_back", contact.id)) == 1


def test_reasons_never_reach_the_database_or_the_audit_log_in_clear(make_contact, team):
    contact = make_contact(paths=("reserve_training",))
    item = vetting.request_stage(contact, team["ann"], "reserve_training", "screening", "PLAINTEXT-REQ-4411")
    approvals.reject(item.id, team["bob"], "PLAINTEXT-DEC-4412")
    db.session.commit()
    tables = [t for t in db.metadata.sorted_tables]
    for table in tables:
        dump = repr(list(db.session.execute(table.select()))).encode()
        assert b"PLAINTEXT-" not in dump, table.name


# --- pages ----------------------------------------------------------------------------------

def test_the_contact_page_refuses_a_direct_move_and_offers_a_request(make_contact, signed_in):
    ann = signed_in("coordinator", clearance=True)
    contact = make_contact(paths=("combat_service",))
    page = f"/contacts/{contact.id}"
    token = csrf_token(ann, page)
    response = ann.post(f"{page}/stage", data={"csrf_token": token, "path": "combat_service", "stage": "active"},
                        follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "needs two people" in body
    assert 'id="approvals"' in body and "Request approval" in body
    assert stage_of(contact.id, "combat_service") == "interested"


def test_request_and_approve_through_the_pages(make_contact, signed_in):
    ann = signed_in("coordinator", clearance=True)
    bob = signed_in("coordinator", clearance=True)
    plain = signed_in("coordinator")
    contact = make_contact(paths=("reserve_training", "volunteering"))
    page = f"/contacts/{contact.id}"
    token = csrf_token(ann, page)
    # A missing reason: 400, the message next to the field, the choice kept.
    response = ann.post(f"/approvals/contact/{contact.id}", data={
        "p-reserve_training-csrf_token": token, "p-reserve_training-kind": "restricted_stage",
        "p-reserve_training-path": "reserve_training", "p-reserve_training-to_stage": "screening",
        "p-reserve_training-reason": "  "})
    assert response.status_code == 400
    assert "Give a reason." in response.get_data(as_text=True)
    response = ann.post(f"/approvals/contact/{contact.id}", data={
        "p-reserve_training-csrf_token": token, "p-reserve_training-kind": "restricted_stage",
        "p-reserve_training-path": "reserve_training", "p-reserve_training-to_stage": "screening",
        "p-reserve_training-reason": "Met at two meetings"})
    assert response.status_code == 302
    item = db.session.scalar(select(ApprovalRequest))
    # The requester sees it, cannot approve it; the count is in the navigation.
    queue = ann.get("/approvals/").get_data(as_text=True)
    assert "Your own request" in queue and f"/approvals/{item.id}/approve" not in queue
    response = ann.post(f"/approvals/{item.id}/approve", data={f"r{item.id.hex}-csrf_token": token,
                                                              f"r{item.id.hex}-reason": "mine"})
    assert response.status_code == 409 and "different person" in response.get_data(as_text=True)
    # Invisible without clearance: no row, no count, 404 on the id.
    plain_queue = plain.get("/approvals/").get_data(as_text=True)
    assert "Nothing is waiting for approval." in plain_queue and 'class="nav-count"' not in plain_queue
    plain_token = csrf_token(plain, page)
    assert plain.post(f"/approvals/{item.id}/approve", data={
        f"r{item.id.hex}-csrf_token": plain_token, f"r{item.id.hex}-reason": "x"}).status_code == 404
    assert 'id="approvals"' not in plain.get(page).get_data(as_text=True)
    # Another cleared coordinator approves; without a reason first.
    bob_queue = bob.get("/approvals/").get_data(as_text=True)
    assert re.search(r'class="nav-count"><span class="visually-hidden">[^<]*</span>1<', bob_queue)
    bob_token = csrf_token(bob, page)
    response = bob.post(f"/approvals/{item.id}/approve", data={f"r{item.id.hex}-csrf_token": bob_token,
                                                              f"r{item.id.hex}-reason": ""})
    assert response.status_code == 400 and "Give a reason." in response.get_data(as_text=True)
    response = bob.post(f"/approvals/{item.id}/approve", data={f"r{item.id.hex}-csrf_token": bob_token,
                                                              f"r{item.id.hex}-reason": "Agreed"},
                        follow_redirects=True)
    assert "Approved and applied." in response.get_data(as_text=True)
    assert stage_of(contact.id, "reserve_training") == "screening"
    assert db.session.get(ApprovalRequest, item.id).status == "approved"
