"""The approvals core (crm/services/approvals.py), with a kind registered by this test only."""
import threading

import pytest
from sqlalchemy import select, text

from crm.errors import NotFound, ServiceError
from crm.extensions import db
from crm.models import ApprovalRequest, AuditEvent
from crm.security import permissions
from crm.services import approvals
from crm.services.approvals import ApprovalRefused
from crm.services.contacts import ValidationError

APPLIED = []


def _apply(item, decider):
    if item.params.get("stale"):
        raise ServiceError("the thing moved meanwhile.")
    APPLIED.append((str(item.id), str(decider.id)))


@pytest.fixture(autouse=True)
def test_kind():
    APPLIED.clear()
    approvals.register_kind(
        "test_kind",
        can_request=lambda user, params, contact: permissions.can(user, "contacts.assign"),
        can_decide=lambda user, item: permissions.can(user, "contacts.assign"),
        apply=_apply, describe=lambda item: "test", view_permission="contacts.assign",
        restricted=lambda params, contact: bool(params.get("secret")))
    yield
    approvals._KINDS.pop("test_kind", None)


def actions(target_id=None):
    stmt = select(AuditEvent.action, AuditEvent.details).order_by(AuditEvent.id)
    if target_id is not None:
        stmt = stmt.where(AuditEvent.target_id == str(target_id))
    return list(db.session.execute(stmt))


def test_request_then_a_different_user_approves(make_user):
    alice = make_user("alice", "coordinator")[0]
    bob = make_user("bob", "coordinator")[0]
    item = approvals.request("test_kind", alice, "  because  ", level=2)
    db.session.commit()
    assert item.status == "pending" and item.reason == "because"
    with pytest.raises(ApprovalRefused, match="different person"):
        approvals.approve(item.id, alice, "mine")
    db.session.commit()
    assert APPLIED == []
    approvals.approve(item.id, bob, "fine")
    db.session.commit()
    db.session.expire_all()
    item = db.session.get(ApprovalRequest, item.id)
    assert (item.status, item.decided_by_id, item.decision_reason) == ("approved", bob.id, "fine")
    assert APPLIED == [(str(item.id), str(bob.id))]
    done = [a for a, _ in actions(item.id)]
    assert done == ["approval.request", "approval.approve_refused", "approval.approve"]
    # A second approval of the same request is refused, and nothing applies twice.
    carol = make_user("carol", "admin")[0]
    with pytest.raises(ApprovalRefused, match="already been decided"):
        approvals.approve(item.id, carol, "again")
    db.session.commit()
    assert len(APPLIED) == 1


def test_reasons_are_required_and_bounded(make_user):
    alice = make_user("alice", "coordinator")[0]
    bob = make_user("bob", "coordinator")[0]
    for bad in ("", "   ", "x" * (approvals.REASON_MAX + 1), "bad\x00char", None):
        with pytest.raises(ValidationError):
            approvals.request("test_kind", alice, bad)
    item = approvals.request("test_kind", alice, "ok")
    with pytest.raises(ValidationError):
        approvals.approve(item.id, bob, " ")
    with pytest.raises(ValidationError):
        approvals.reject(item.id, bob, "")
    db.session.commit()
    assert db.session.get(ApprovalRequest, item.id).status == "pending"


def test_one_pending_request_per_subject(make_user, make_contact):
    alice = make_user("alice", "coordinator")[0]
    bob = make_user("bob", "coordinator")[0]
    contact = make_contact()
    first = approvals.request("test_kind", alice, "one", contact=contact, level=2)
    with pytest.raises(ApprovalRefused, match="already waiting"):
        approvals.request("test_kind", bob, "two", contact=contact, level=2)
    approvals.request("test_kind", bob, "other level", contact=contact, level=3)
    db.session.commit()
    approvals.reject(first.id, bob, "no")
    db.session.commit()
    again = approvals.request("test_kind", alice, "after the rejection", contact=contact, level=2)
    db.session.commit()
    assert again.id != first.id
    assert db.session.get(ApprovalRequest, first.id).status == "rejected"
    assert APPLIED == []


def test_the_database_holds_one_pending_request_per_subject(make_user):
    alice = make_user("alice", "coordinator")[0]
    item = approvals.request("test_kind", alice, "one", level=2)
    db.session.commit()
    twin = ApprovalRequest(kind="test_kind", params={"level": 2}, subject_key=item.subject_key,
                           restricted=False, status="pending")
    db.session.add(twin)
    with pytest.raises(Exception):
        db.session.flush()
    db.session.rollback()


def test_who_may_request_decide_and_cancel(make_user):
    staff = make_user("staff", "staff")[0]
    alice = make_user("alice", "coordinator")[0]
    bob = make_user("bob", "coordinator")[0]
    with pytest.raises(ApprovalRefused, match="may not request"):
        approvals.request("test_kind", staff, "please")
    db.session.commit()
    assert [a for a, _ in actions()][-1] == "approval.request_refused"
    item = approvals.request("test_kind", alice, "one")
    db.session.commit()
    with pytest.raises(NotFound):
        approvals.approve(item.id, staff, "sure")
    with pytest.raises(ApprovalRefused, match="Only the person who asked"):
        approvals.cancel(item.id, bob)
    approvals.cancel(item.id, alice, "changed my mind")
    db.session.commit()
    assert db.session.get(ApprovalRequest, item.id).status == "cancelled"
    with pytest.raises(ApprovalRefused, match="already been decided"):
        approvals.approve(item.id, bob, "late")
    with pytest.raises(NotFound):
        approvals.approve("not-a-uuid", bob, "x")


def test_a_stale_request_is_refused_and_stays_pending(make_user):
    alice = make_user("alice", "coordinator")[0]
    bob = make_user("bob", "coordinator")[0]
    item = approvals.request("test_kind", alice, "one", stale=True)
    db.session.commit()
    with pytest.raises(ApprovalRefused, match="the thing moved meanwhile"):
        approvals.approve(item.id, bob, "yes")
    db.session.commit()
    db.session.expire_all()
    item = db.session.get(ApprovalRequest, item.id)
    assert (item.status, item.decided_by_id, item.decision_reason) == ("pending", None, None)
    assert actions(item.id)[-1][1]["reason"] == "stale"
    approvals.reject(item.id, bob, "stale")
    db.session.commit()
    assert db.session.get(ApprovalRequest, item.id).status == "rejected"


def test_restricted_requests_are_invisible_without_clearance(make_user):
    alice = make_user("alice", "coordinator", clearance=True)[0]
    bob = make_user("bob", "coordinator")[0]
    admin = make_user("root", "admin")[0]
    secret = approvals.request("test_kind", alice, "secret", secret=True)
    plain = approvals.request("test_kind", alice, "plain")
    db.session.commit()
    assert [r.id for r in approvals.pending(alice)] == [secret.id, plain.id]
    assert [r.id for r in approvals.pending(bob)] == [plain.id]
    assert approvals.pending_count(bob) == 1 and approvals.pending_count(admin) == 1
    assert approvals.pending_count(alice) == 2
    with pytest.raises(NotFound):
        approvals.approve(secret.id, bob, "yes")


def test_reasons_are_encrypted_in_the_database(make_user):
    alice = make_user("alice", "coordinator")[0]
    bob = make_user("bob", "coordinator")[0]
    item = approvals.request("test_kind", alice, "REASON-MARKER-7781")
    approvals.approve(item.id, bob, "DECISION-MARKER-7782")
    db.session.commit()
    dump = repr(list(db.session.execute(text("SELECT * FROM approval_request")))).encode()
    dump += repr(list(db.session.execute(text("SELECT details FROM audit_event")))).encode()
    assert b"MARKER-778" not in dump
    db.session.expire_all()
    assert db.session.get(ApprovalRequest, item.id).reason == "REASON-MARKER-7781"


def test_two_approvers_racing_apply_once(app, make_user, backend):
    alice = make_user("alice", "coordinator")[0]
    deciders = [make_user(f"dec{n}", "coordinator")[0].id for n in range(2)]
    item = approvals.request("test_kind", alice, "race")
    db.session.commit()
    item_id = item.id
    barrier = threading.Barrier(2)
    results = []

    def decide(user_id):
        from crm.models import User

        with app.app_context():
            user = db.session.get(User, user_id)
            barrier.wait()
            try:
                approvals.approve(item_id, user, "go")
                db.session.commit()
                results.append("approved")
            except ApprovalRefused:
                db.session.commit()
                results.append("refused")
            except Exception as exc:  # SQLite: the loser may find the database locked
                db.session.rollback()
                results.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=decide, args=(u,)) for u in deciders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results.count("approved") == 1, results
    assert len(APPLIED) == 1
    assert db.session.scalar(select(ApprovalRequest.status).where(ApprovalRequest.id == item_id)) == "approved"
