"""The emergency lockdown: two admins start it, it ends every session, only admins sign in,
exports and imports are refused (a queued import job does not run), and lifting restores it all."""
import io

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import ApprovalRequest, AuditEvent, ImportRun, Lockdown, UserSession
from crm.models.export import Export
from crm.services import exports, imports, lockdown
from crm.services.contacts import ValidationError
from crm.services.triage import QueueFilters
from tests.auth_helpers import csrf_token, fresh_user, post_form
from tests.integration.access_helpers import watch  # noqa: F401 (fixture)
from workers.jobs import build_export
from workers.periodic import resume_imports

SHEET = "Name;Email\nAles Lockdownski;ales.lock@example.org\nMaryja Lockdownska;maryja.lock@example.org\n"
BROKEN = "Name;Email\nAles Lockdownski;ales.lock@example.org\nBroken Row;not-an-email\n"
EVERYONE = QueueFilters(status="any", assignee="any")


def _actions(action):
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _live_sessions():
    db.session.expire_all()
    return db.session.scalar(select(db.func.count()).select_from(UserSession).where(UserSession.ended_at.is_(None)))


def _request(admin, reason="Laptop of a coordinator seized at the border"):
    return admin.post("/admin/access/lockdown/request", data={"reason": reason, "csrf_token": _token(admin)})


def _token(admin):
    return csrf_token(admin, "/admin/access/settings")


def _pending_id():
    db.session.expire_all()
    return db.session.scalar(select(ApprovalRequest.id).where(ApprovalRequest.kind == "lockdown",
                                                              ApprovalRequest.status == "pending"))


def _approve(admin, request_id, reason="Confirmed by phone"):
    return admin.post(f"/admin/access/lockdown/{request_id}/approve",
                      data={"reason": reason, "csrf_token": _token(admin)})


@pytest.fixture
def locked(watch, signed_in):
    """Two admins and a staff member signed in; the first admin requests, the second approves."""
    first, second = signed_in("admin"), signed_in("admin")
    staff, coordinator = signed_in("staff"), signed_in("coordinator")
    assert _request(first).status_code == 302
    assert _approve(second, _pending_id()).status_code == 302
    return first, second, staff, coordinator


def test_a_request_cannot_be_approved_by_its_requester(watch, signed_in):
    first, second = signed_in("admin"), signed_in("admin")
    staff = signed_in("staff")
    assert _request(first).status_code == 302
    request_id = _pending_id()
    page = first.get("/admin/access/lockdown").get_data(as_text=True)
    assert "a different admin must approve it" in page
    response = _approve(first, request_id)
    assert response.status_code == 302
    assert "A different person must decide" in first.get("/admin/access/lockdown").get_data(as_text=True)
    assert lockdown.current() is None
    assert staff.get("/contacts/").status_code == 200
    assert _actions("approval.approve_refused")[0].details["reason"] == "self"


def test_a_second_request_is_refused_while_one_waits_or_is_in_force(watch, signed_in):
    first, second = signed_in("admin"), signed_in("admin")
    _request(first)
    _request(second)
    assert db.session.scalar(select(db.func.count()).select_from(ApprovalRequest)) == 1
    assert "already waiting" in second.get("/admin/access/lockdown").get_data(as_text=True)
    _approve(second, _pending_id())
    from tests.auth_helpers import login_as

    login_as(second, fresh_user(second.user), second.password)
    _request(second)
    assert "already in force" in second.get("/admin/access/lockdown").get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(Lockdown)) == 1


def test_approval_ends_every_session_and_only_admins_sign_in(locked, app, login_as):
    first, second, staff, coordinator = locked
    assert _live_sessions() == 0
    [row] = db.session.scalars(select(Lockdown)).all()
    assert row.sessions_ended == 4 and row.lifted_at is None
    assert _actions("lockdown.start")[0].details["sessions"] == 4
    for client in locked:
        assert client.get("/contacts/").status_code == 302  # signed out
    browser = app.test_client()
    response = post_form(browser, "/login", {"login": staff.user.login, "password": staff.password})
    assert response.status_code == 401 and "Sign-in failed" in response.get_data(as_text=True)
    assert _actions("auth.login.failed")[-1].details["reason"] == "lockdown"
    login_as(first, fresh_user(first.user), first.password)
    page = first.get("/admin/access/alerts").get_data(as_text=True)
    assert "Emergency lockdown in force" in page


def test_exports_and_imports_are_refused_and_a_queued_import_waits_for_the_lift(watch, signed_in, run_worker,
                                                                                login_as, make_contact):
    first, second = signed_in("admin"), signed_in("admin")
    make_contact()
    coordinator = signed_in("coordinator")
    run = imports.upload(io.BytesIO(SHEET.encode()), "sheet.csv", fresh_user(coordinator.user))
    imports.configure(run, run.mapping)
    imports.start(run)
    run_id = run.id
    db.session.commit()
    # The import job is queued; the lockdown starts before a worker takes it.
    _request(first)
    _approve(second, _pending_id())
    run_worker("default")
    db.session.expire_all()
    assert db.session.get(ImportRun, run_id).status == "queued"  # the job ran and left it alone
    admin = fresh_user(first.user)
    with pytest.raises(ValidationError) as refused:
        exports.request_export(exports.ExportRequest(QueueFilters(), ("full_name",)), admin)
    assert "lockdown" in str(refused.value.errors["status"])
    with pytest.raises(imports.ImportProblem):
        imports.upload(io.BytesIO(SHEET.encode()), "sheet.csv", admin)
    db.session.rollback()
    login_as(first, admin, first.password)
    response = post_form(first, "/exports/new", {"status": "any", "assignee": "any", "format": "csv",
                                                 "columns": ["full_name"]})
    assert response.status_code == 400 and "emergency lockdown" in response.get_data(as_text=True).lower()
    assert {e.details["refused"] for e in _actions("lockdown.refused")} >= {"export.request"}
    # One admin lifts it: the import is queued again and runs.
    response = first.post("/admin/access/lockdown/lift",
                          data={"reason": "Laptop recovered, keys rotated",
                                "csrf_token": _token(first)})
    assert response.status_code == 302
    lifted = _actions("lockdown.lift")[0]
    assert lifted.details["imports"] == 1
    run_worker("default")
    db.session.expire_all()
    assert db.session.get(ImportRun, run_id).status == "done"


def test_lifting_restores_sign_in_for_staff(locked, app, login_as):
    first, second, staff, coordinator = locked
    login_as(second, fresh_user(second.user), second.password)
    response = second.post("/admin/access/lockdown/lift", data={
        "reason": "", "csrf_token": _token(second)})
    assert "give a reason" in second.get("/admin/access/lockdown").get_data(as_text=True).lower()
    response = second.post("/admin/access/lockdown/lift", data={
        "reason": "All clear", "csrf_token": _token(second)})
    assert response.status_code == 302
    db.session.expire_all()
    [row] = db.session.scalars(select(Lockdown)).all()
    assert row.lifted_at is not None and row.lift_reason == "All clear"
    assert b"All clear" not in row.lift_reason_ct
    login_as(staff, fresh_user(staff.user), staff.password)
    assert staff.get("/contacts/").status_code == 200
    assert "Emergency lockdown in force" not in second.get("/admin/access/alerts").get_data(as_text=True)
    response = second.post("/admin/access/lockdown/lift", data={
        "reason": "Twice", "csrf_token": _token(second)})
    assert "No lockdown is in force" in second.get("/admin/access/lockdown").get_data(as_text=True)
    assert _actions("lockdown.lift_refused")


def test_every_refusal_is_audited_though_the_refused_work_is_rolled_back(watch, signed_in, login_as, make_contact,
                                                                          app, monkeypatch, runner, tmp_path):
    """The approval, download, upload, import start and rejects download refused over HTTP, the
    operator's import refused on the command line, and the reconciler leaving imports alone:
    each refusal is one committed audit event, and nothing the refused actions would change has."""
    first, second = signed_in("admin"), signed_in("admin")
    make_contact(), make_contact()
    admin, other = fresh_user(first.user), fresh_user(second.user)
    ready = exports.request_export(exports.ExportRequest(EVERYONE, ("full_name",)), admin)
    db.session.commit()
    ready_id = ready.id
    build_export(str(ready_id))
    monkeypatch.setitem(app.config, "EXPORT_APPROVAL_THRESHOLD", 1)
    waiting_id = exports.request_export(exports.ExportRequest(EVERYONE, ("full_name",), "csv", "For the lead"),
                                        other).id
    uploaded_id = imports.upload(io.BytesIO(SHEET.encode()), "sheet.csv", admin).id
    finished = imports.upload(io.BytesIO(BROKEN.encode()), "broken.csv", admin)
    imports.configure(finished, finished.mapping)
    finished.status = "running"
    queued = imports.upload(io.BytesIO(SHEET.encode()), "queued.csv", admin)
    imports.configure(queued, queued.mapping)
    queued.status = "queued"
    finished_id, queued_id = finished.id, queued.id
    db.session.commit()
    for _ in imports.process(finished_id):
        db.session.commit()
    assert db.session.get(ImportRun, finished_id).rejects_file_id is not None
    _request(first)
    _approve(second, _pending_id())
    login_as(first, fresh_user(first.user), first.password)
    token = csrf_token(first, "/exports/")

    response = first.post(f"/exports/{waiting_id}/approve", data={"csrf_token": token})
    assert response.status_code == 302
    assert "emergency lockdown" in first.get("/exports/").get_data(as_text=True).lower()
    response = first.post(f"/exports/{ready_id}/download", data={"csrf_token": token})
    assert response.status_code == 302 and "attachment" not in response.headers.get("Content-Disposition", "")
    response = first.post("/imports/", data={"csrf_token": csrf_token(first, "/imports/"), "encoding": "auto",
                                             "sheet": (io.BytesIO(SHEET.encode()), "late.csv")},
                          content_type="multipart/form-data")
    assert response.status_code == 400 and "emergency lockdown" in response.get_data(as_text=True).lower()
    page = first.get(f"/imports/{uploaded_id}/map").get_data(as_text=True)
    response = first.post(f"/imports/{uploaded_id}/map", data={
        "csrf_token": csrf_token(first, f"/imports/{uploaded_id}/map"), "has_header": "y", "region": "PL",
        "meeting_id": "", "col_0": "full_name", "col_1": "email"})
    assert "Ales Lockdownski" in page and response.status_code == 400
    assert "emergency lockdown" in response.get_data(as_text=True).lower()
    assert first.get(f"/imports/{finished_id}/rejects.csv").status_code == 423
    sheet = tmp_path / "operator.csv"
    sheet.write_text(SHEET)
    result = runner.invoke(args=["crm", "import", str(sheet), "--json"])
    assert result.exit_code != 0 and "lockdown" in result.output
    assert resume_imports() == {"queued": 0, "paused": True}  # the reconciler leaves them for the lift

    refusals = _actions("lockdown.refused")
    assert [e.details["refused"] for e in refusals] == [
        "export.approve", "export.download", "import.upload", "import.start", "import.rejects_download",
        "import.upload"]
    assert {e.actor_id for e in refusals[:5]} == {first.user.id} and refusals[5].actor_id is None
    db.session.expire_all()
    waiting, ready = db.session.get(Export, waiting_id), db.session.get(Export, ready_id)
    assert waiting.status == "pending_approval" and waiting.approved_by_id is None
    assert ready.status == "ready" and ready.file_id is not None and ready.downloaded_at is None
    assert db.session.get(ImportRun, uploaded_id).status == "uploaded"
    assert db.session.get(ImportRun, queued_id).status == "queued"
    assert db.session.scalar(select(db.func.count()).select_from(ImportRun)) == 3
    assert not _actions("export.approve") and not _actions("export.download") and not _actions("import.start")
    assert not _actions("import.rejects_download")
