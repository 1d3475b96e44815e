"""Exports: who may export what, second-admin approval, one download, expiry, audit, canary, formulas."""
import csv
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from crm.errors import NotFound, ServiceError
from crm.extensions import db
from crm.models import AuditEvent, StoredFile
from crm.models.base import utcnow
from crm.models.export import Export
from crm.services import export_canary, exports, files
from crm.services.contacts import ValidationError
from crm.services.triage import QueueFilters
from tests.auth_helpers import csrf_token
from workers.jobs import build_export

EVERYONE = QueueFilters(status="any", assignee="any")
FORMULA = '=HYPERLINK("http://evil.example/x","click")'


@pytest.fixture
def people(make_contact):
    """A visible person with a restricted path too, a restricted-only one, and a formula in a note."""
    mixed = make_contact("Marta Mixed", email="marta@example.org", paths=("volunteering", "reserve_training"))
    hidden = make_contact("Hidden Soldier", email="hidden@example.org", paths=("combat_service",))
    plain = make_contact("Piotr Plain", email="piotr@example.org", notes=FORMULA, paths=("joint_projects",))
    return mixed, hidden, plain


def request_and_build(user, columns=("full_name", "email", "notes", "paths"), fmt="csv", reason=None,
                      filters=EVERYONE):
    export = exports.request_export(exports.ExportRequest(filters, tuple(columns), fmt, reason), user)
    db.session.commit()
    export_id = export.id
    build_export(str(export_id))
    db.session.expire_all()
    return db.session.get(Export, export_id)


def download(user, export):
    _, stream = exports.take_download(export.id, user)
    db.session.commit()
    with stream:
        return stream.read()


def csv_rows(data):
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_staff_may_not_export(make_user, signed_in, people):
    staff = make_user("staffer", "staff")[0]
    with pytest.raises(ServiceError):
        exports.request_export(exports.ExportRequest(EVERYONE, ("full_name",)), staff)
    client = signed_in("staff")
    assert client.get("/exports/").status_code == 403
    assert client.get("/exports/new").status_code == 403


def test_export_without_clearance_holds_no_restricted_row_or_path(make_user, people):
    mixed, hidden, plain = people
    coordinator = make_user("coord", "coordinator")[0]
    export = request_and_build(coordinator)
    assert export.status == "ready" and export.row_count == 2
    canary = export_canary.canary_of(export)
    rows = csv_rows(download(coordinator, export))
    assert rows[0] == ["Full name", "Email", "Notes", "Paths"]  # the chosen columns only
    by_email = {row[1]: row for row in rows[1:]}
    assert set(by_email) == {"marta@example.org", "piotr@example.org", canary["email"]}
    assert by_email["marta@example.org"][3] == "volunteering: interested"  # reserve_training left out
    assert by_email["piotr@example.org"][2] == "'" + FORMULA                # neutralised
    assert "hidden@example.org" not in str(rows) and "reserve" not in str(rows)


def test_export_with_clearance_includes_restricted_paths(make_user, people):
    cleared = make_user("cleared", "coordinator", clearance=True)[0]
    export = request_and_build(cleared)
    rows = csv_rows(download(cleared, export))
    emails = {row[1] for row in rows[1:]}
    assert {"marta@example.org", "hidden@example.org", "piotr@example.org"} <= emails
    assert any("reserve_training: interested" in row[3] for row in rows)


def test_download_once_then_gone_and_audited(make_user, people, instance_dir):
    coordinator = make_user("coord", "coordinator")[0]
    export = request_and_build(coordinator, columns=("full_name", "email"))
    file_id = export.file_id
    assert files.path_of(file_id).exists()
    assert download(coordinator, export)
    db.session.expire_all()
    assert db.session.get(StoredFile, file_id) is None and not files.path_of(file_id).exists()
    with pytest.raises(ServiceError, match="cannot be downloaded"):
        exports.take_download(export.id, coordinator)
    events = {e.action: e for e in db.session.scalars(select(AuditEvent).where(AuditEvent.target_type == "export"))}
    assert {"export.request", "export.build", "export.download"} <= set(events)
    assert events["export.request"].details["filters"]["status"] == "any"
    assert events["export.request"].details["count"] == 2
    assert events["export.build"].details["count"] == 2
    assert events["export.build"].details["columns"] == ["full_name", "email"]
    assert "example.org" not in str([e.details for e in events.values()])


def test_only_the_requester_downloads(make_user, people):
    coordinator = make_user("coord", "coordinator")[0]
    other_admin = make_user("boss", "admin")[0]
    export = request_and_build(coordinator)
    with pytest.raises(NotFound):
        exports.take_download(export.id, other_admin)


def test_an_unused_export_expires(make_user, people):
    coordinator = make_user("coord", "coordinator")[0]
    export = request_and_build(coordinator)
    file_id = export.file_id
    later = utcnow() + timedelta(hours=24, minutes=1)  # EXPORT_TTL_HOURS is 24
    with pytest.raises(ServiceError, match="expired"):
        exports.take_download(export.id, coordinator, now=later)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Export, export.id).status == "expired"
    assert not files.path_of(file_id).exists()


def test_large_exports_need_a_reason_and_a_second_admin(app, monkeypatch, make_user, people):
    monkeypatch.setitem(app.config, "EXPORT_APPROVAL_THRESHOLD", 1)
    requester = make_user("asker", "admin")[0]
    second = make_user("second", "admin")[0]
    with pytest.raises(ValidationError) as refused:
        exports.request_export(exports.ExportRequest(EVERYONE, ("full_name",)), requester)
    assert "reason" in refused.value.errors
    export = exports.request_export(exports.ExportRequest(EVERYONE, ("full_name",), "csv",
                                                          "List for the Vilnius volunteer lead"), requester)
    db.session.commit()
    assert export.status == "pending_approval" and export.reason == "List for the Vilnius volunteer lead"
    assert b"Vilnius" not in export.reason_ct
    build_export(str(export.id))  # a job for an unapproved export builds nothing
    db.session.expire_all()
    assert db.session.get(Export, export.id).file_id is None
    with pytest.raises(ServiceError, match="second admin"):
        exports.decide(export.id, requester, approve=True)
    coordinator = make_user("coord", "coordinator")[0]
    with pytest.raises(NotFound):
        exports.decide(export.id, coordinator, approve=True)
    exports.decide(export.id, second, approve=True)
    db.session.commit()
    build_export(str(export.id))
    db.session.expire_all()
    export = db.session.get(Export, export.id)
    assert export.status == "ready" and export.approved_by_id == second.id
    actions = [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.target_type == "export")
                                                    .order_by(AuditEvent.id))]
    assert actions == ["export.request", "export.approve", "export.build"]


def test_a_cleared_export_needs_a_cleared_approver(app, monkeypatch, make_user, people):
    monkeypatch.setitem(app.config, "EXPORT_APPROVAL_THRESHOLD", 1)
    requester = make_user("asker", "admin", clearance=True)[0]
    uncleared = make_user("second", "admin")[0]
    export = exports.request_export(exports.ExportRequest(EVERYONE, ("full_name",), "csv", "why"), requester)
    with pytest.raises(ServiceError, match="clearance"):
        exports.decide(export.id, uncleared, approve=True)
    exports.decide(export.id, make_user("third", "admin", clearance=True)[0], approve=False)
    assert export.status == "refused"


def test_bad_requests_are_refused_with_field_errors(app, monkeypatch, make_user, people):
    coordinator = make_user("coord", "coordinator")[0]
    cases = [
        (exports.ExportRequest(EVERYONE, ()), "columns"),
        (exports.ExportRequest(EVERYONE, ("full_name", "password")), "columns"),
        (exports.ExportRequest(EVERYONE, ("full_name",), "pdf"), "format"),
        (exports.ExportRequest(QueueFilters(status="any", assignee="any", path="combat_service"),
                               ("full_name",)), "path"),  # a hidden path is as unknown as a made-up one
        (exports.ExportRequest(QueueFilters(status="archived", assignee="any"), ("full_name",)), "status"),
    ]
    for request, field in cases:
        with pytest.raises(ValidationError) as refused:
            exports.request_export(request, coordinator)
        assert field in refused.value.errors, request
    monkeypatch.setitem(app.config, "EXPORT_DAILY_CAP", 1)
    exports.request_export(exports.ExportRequest(EVERYONE, ("full_name",)), coordinator)
    with pytest.raises(ValidationError, match="today"):
        exports.request_export(exports.ExportRequest(EVERYONE, ("full_name",)), coordinator)
    assert db.session.query(Export).count() == 1


def test_xlsx_cells_are_text_and_the_canary_traces_back(make_user, people):
    coordinator = make_user("coord", "coordinator")[0]
    export = request_and_build(coordinator, fmt="xlsx")
    data = download(coordinator, export)
    sheet = load_workbook(io.BytesIO(data)).active
    cells = {cell.value: cell for row in sheet.iter_rows() for cell in row if cell.value}
    assert "'" + FORMULA in cells and cells["'" + FORMULA].data_type == "s"
    assert not any(str(value).startswith("=") for value in cells)
    canary = export_canary.canary_of(export)
    assert canary["email"] in cells and canary["full_name"] in cells
    assert [e.id for e in exports.trace(data).exports] == [export.id]


def test_each_export_has_its_own_canary_and_a_file_names_its_export(make_user, people, flask_cli, tmp_path):
    coordinator = make_user("coord", "coordinator")[0]
    first = request_and_build(coordinator)
    second = request_and_build(coordinator)
    assert export_canary.canary_of(first)["email"] != export_canary.canary_of(second)["email"]
    data = download(coordinator, second)
    assert [e.id for e in exports.trace(data).exports] == [second.id]
    db.session.commit()
    # The canary is nobody in the app: no contact, no search result.
    from crm.services.search import search
    assert search(export_canary.canary_of(second)["email"]).contacts == []
    # Trimmed to a single row and pasted elsewhere, it still names the export.
    canary_line = next(line for line in data.decode("utf-8-sig").splitlines()
                       if export_canary.canary_of(second)["email"] in line)
    leaked = tmp_path / "leaked.csv"
    leaked.write_text("name;mail;x;y\n" + canary_line.replace(",", ";") + "\n", encoding="cp1251",
                      errors="replace")
    result = flask_cli("exports", "trace", str(leaked))
    assert result.returncode == 0, result.stderr
    assert str(second.id) in result.stdout and "coord" in result.stdout
    unrelated = tmp_path / "other.csv"
    unrelated.write_text("a,b\nsomeone@example.com,+48 600 100 200\n")
    result = flask_cli("exports", "trace", str(unrelated))
    assert result.returncode == 1 and "No export canary" in result.stdout
    # The canary's address arriving anywhere (a mailbox, a sign-up) names the export too.
    assert [e.id for e in export_canary.trace_values([export_canary.canary_of(second)["phone"]])] == [second.id]


def test_canary_phones_stay_unique_while_the_prefix_has_numbers_left(app, make_user, people, monkeypatch):
    """A phone shared by two canaries would name both exports: each export takes a free one."""
    monkeypatch.setitem(app.config, "EXPORT_CANARY_PHONE_PREFIX", "+1202555010")  # ten numbers
    coordinator = make_user("coord", "coordinator")[0]
    made = [request_and_build(coordinator) for _ in range(8)]
    phones = [export_canary.canary_of(export)["phone"] for export in made]
    assert len(set(phones)) == 8, phones
    for export, phone in zip(made, phones):
        assert [e.id for e in export_canary.trace_values([phone])] == [export.id]


# --- over HTTP -------------------------------------------------------------------------

def test_export_pages_request_download_and_trace(signed_in, people):
    coordinator = signed_in("coordinator")
    token = csrf_token(coordinator, "/exports/new")
    form = {"csrf_token": token, "status": "any", "assignee": "any", "columns": ["full_name", "email"],
            "format": "csv"}
    response = coordinator.post("/exports/new", data=form)
    assert response.status_code == 302
    export = db.session.scalar(select(Export))
    build_export(str(export.id))
    page = coordinator.get("/exports/").get_data(as_text=True)
    action = re.search(r'action="(/exports/[^"]+/download)"', page).group(1)
    token = csrf_token(coordinator, "/exports/")
    response = coordinator.post(action, data={"csrf_token": token})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    assert b"marta@example.org" in response.data
    again = coordinator.post(action, data={"csrf_token": token})
    assert again.status_code == 302  # spent: back to the list with a message
    # Bad input: no column, a made-up format -> the form again, with messages, nothing recorded.
    bad = coordinator.post("/exports/new", data={**form, "columns": [], "format": "pdf"})
    assert bad.status_code == 400 and db.session.query(Export).count() == 1
    # Tracing is for admins.
    assert coordinator.get("/exports/trace").status_code == 403
    admin = signed_in("admin")
    token = csrf_token(admin, "/exports/trace")
    body = admin.post("/exports/trace", data={"csrf_token": token, "file": (io.BytesIO(response.data), "x.csv")},
                      content_type="multipart/form-data").get_data(as_text=True)
    assert str(export.id) in body
    body = admin.post("/exports/trace", data={"csrf_token": token, "file": (io.BytesIO(b"PK\x03\x04junk"), "x.xlsx")},
                      content_type="multipart/form-data")
    assert body.status_code == 400 and "not a readable" in body.get_data(as_text=True)
