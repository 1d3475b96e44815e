"""Admin operations pages: failed jobs visible, retry and discard; the outbox; mail wording."""
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, Outbox
from crm.redis_conn import get_redis
from crm.services import mail
from tests.auth_helpers import csrf_token, post_form

TO = "ops-marker-5d2@example.org"


def _queue(key="ops:1", to=TO):
    outbox_id = mail.queue_mail(key=key, kind="system.test", to=to, template="system/test_message",
                                context={"reference": "ref-ops"})
    db.session.commit()
    return outbox_id


def _row(outbox_id):
    db.session.expire_all()
    return db.session.get(Outbox, outbox_id)


def _failed_ids(app):
    return FailedJobRegistry("mail", connection=get_redis(app), serializer=JSONSerializer).get_job_ids()


def _actions():
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_a_permanent_failure_is_on_the_jobs_page_and_retry_sends_it(app, signed_in, smtp_server, run_worker):
    smtp_server.reject_rcpt[TO] = 550
    outbox_id = _queue()
    run_worker("mail")
    admin = signed_in("admin")
    page = admin.get("/admin/jobs").get_data(as_text=True)
    job_id = mail.job_id_for(outbox_id)
    assert job_id in page and "PermanentMailError" in page and "smtp-550-rcpt" in page
    assert TO not in page and "Test message" not in page
    assert admin.post(f"/admin/jobs/{job_id}/retry").status_code == 400  # no CSRF token
    del smtp_server.reject_rcpt[TO]  # the address was fixed
    token = csrf_token(admin, "/admin/jobs")
    response = admin.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    assert _row(outbox_id).status == "pending" and _failed_ids(app) == []
    run_worker("mail")
    assert _row(outbox_id).status == "sent" and len(smtp_server.messages) == 1
    assert "job.retry" in _actions()


def test_discard_forgets_the_job_and_keeps_the_failed_row(app, signed_in, smtp_server, run_worker):
    smtp_server.reject_rcpt[TO] = 550
    outbox_id = _queue()
    run_worker("mail")
    admin = signed_in("admin")
    job_id = mail.job_id_for(outbox_id)
    response = admin.post(f"/admin/jobs/{job_id}/discard", data={"csrf_token": csrf_token(admin, "/admin/jobs")})
    assert response.status_code == 302
    assert _failed_ids(app) == [] and get_redis(app).exists(f"rq:job:{job_id}") == 0
    assert _row(outbox_id).status == "failed"
    assert "job.discard" in _actions()
    assert "No failed jobs." in admin.get("/admin/jobs").get_data(as_text=True)


def test_an_unknown_job_answers_404(signed_in):
    admin = signed_in("admin")
    token = csrf_token(admin, "/admin/mail")
    assert admin.post("/admin/jobs/mail-nothing/retry", data={"csrf_token": token}).status_code == 404


def test_the_jobs_page_shows_queues_and_workers(app, signed_in, start_worker):
    import time

    admin = signed_in("admin")
    assert "No worker is running" in admin.get("/admin/jobs").get_data(as_text=True)
    start_worker("mail")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = admin.get("/admin/jobs").get_data(as_text=True)
        if "No worker is running" not in page:
            break
        time.sleep(0.3)
    assert "No worker is running" not in page and "<code>mail</code>" in page


def test_only_admins_reach_the_operations_pages(signed_in):
    for role in ("staff", "coordinator"):
        user = signed_in(role)
        for path in ("/admin/jobs", "/admin/mail", "/admin/mail/templates"):
            assert user.get(path).status_code == 403, (role, path)


def test_the_outbox_lists_metadata_and_opening_a_message_is_audited(app, signed_in):
    outbox_id = _queue()
    admin = signed_in("admin")
    listing = admin.get("/admin/mail").get_data(as_text=True)
    assert "system/test_message" in listing and TO not in listing and "Test message" not in listing
    page = admin.get(f"/admin/mail/{outbox_id}").get_data(as_text=True)
    assert TO in page and "ref-ops" in page
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.view")).one()
    assert event.target_id == str(outbox_id) and TO not in str(event.details)


def test_resend_puts_a_failed_message_back(app, signed_in):
    outbox_id = _queue()
    db.session.execute(Outbox.__table__.update().values(status="failed", last_error="smtp-550-rcpt"))
    db.session.commit()
    admin = signed_in("admin")
    response = admin.post(
        f"/admin/mail/{outbox_id}/resend", data={"csrf_token": csrf_token(admin, f"/admin/mail/{outbox_id}")})
    assert response.status_code == 302
    assert _row(outbox_id).status == "pending"
    assert "outbox.resend" in _actions()


def test_a_test_message_can_be_sent_from_the_page(app, signed_in, smtp_server, run_worker):
    admin = signed_in("admin")
    token = csrf_token(admin, "/admin/mail")
    bad = admin.post("/admin/mail/test", data={"csrf_token": token, "address": "not an address", "locale": "en"})
    assert bad.status_code == 400 and "Enter an email address." in bad.get_data(as_text=True)
    ok = admin.post("/admin/mail/test", data={"csrf_token": token, "address": "admin-box@example.org",
                                              "locale": "en"})
    assert ok.status_code == 302
    run_worker("mail")
    assert [m["To"] for m in smtp_server.messages] == ["admin-box@example.org"]


TEMPLATE = "/admin/mail/templates/en/system/test_message"


def _save(admin, **parts):
    data = {"subject": "", "text": "", "html": "", "save": "1", **parts}
    return post_form(admin, TEMPLATE, data)


def test_template_edits_are_checked(app, signed_in):
    admin = signed_in("admin")
    page = admin.get(TEMPLATE).get_data(as_text=True)
    assert "reference" in page  # the variables an edit may use
    broken = _save(admin, text="Hello {{ reference ")
    assert broken.status_code == 400 and "line 1" in broken.get_data(as_text=True)
    unknown = _save(admin, text="{{ config.SECRET_KEY }} {{ reference }}")
    assert unknown.status_code == 400 and "unknown variables: config" in unknown.get_data(as_text=True)
    assert "mail_template.save" not in _actions()


def test_an_edit_is_previewed_saved_used_and_reverted(app, signed_in):
    admin = signed_in("admin")
    preview = post_form(admin, TEMPLATE, {"subject": "Check {{ reference }}", "text": "Ref {{ reference }}",
                                          "html": "", "preview": "1"})
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Check [reference]" in body and "Ref [reference]" in body
    assert _save(admin, subject="Check {{ reference }}", text="Ref {{ reference }}").status_code == 302
    outbox_id = _queue()
    row = _row(outbox_id)
    assert str(row.subject) == "Check ref-ops" and str(row.body).strip() == "Ref ref-ops"
    assert "ref-ops" in str(row.html)  # the html part still comes from the default file
    revert = admin.post("/admin/mail/template-revert/en/0/system/test_message",
                        data={"csrf_token": csrf_token(admin, TEMPLATE)})
    assert revert.status_code == 302
    second = _row(_queue(key="ops:2"))
    assert str(second.subject) == "Test message"
    index = admin.get("/admin/mail/templates").get_data(as_text=True)
    assert "system/test_message" in index
    assert _actions().count("mail_template.save") == 2


def test_every_mail_template_opens_in_the_editor_and_its_default_previews(app, signed_in):
    """Each feature's default wording is valid as an edit: it renders in the sandbox as it is."""
    from crm.services import mail_templates

    admin = signed_in("admin")
    names = mail_templates.known_templates()
    assert "system/test_message" in names
    for name in names:
        path = f"/admin/mail/templates/be/{name}"
        assert admin.get(path).status_code == 200, name
        parts = mail_templates.editable_parts(name, "be")
        response = post_form(admin, path, {**parts, "preview": "1"})
        assert response.status_code == 200, (name, response.get_data(as_text=True)[-2000:])
        assert "Preview with sample data" in response.get_data(as_text=True)


def test_the_jobs_page_lists_the_running_cron_schedule(app, signed_in, subprocess_env):
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT, kill_tree

    admin = signed_in("admin")
    cron = subprocess.Popen([sys.executable, "-m", "workers.cron"], cwd=ROOT, env=subprocess_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        page = ""
        while time.monotonic() < deadline and "workers.periodic.reconcile" not in page:
            time.sleep(0.5)
            page = admin.get("/admin/jobs").get_data(as_text=True)
    finally:
        kill_tree(cron.pid)
        cron.wait(timeout=30)
    assert "workers.periodic.reconcile" in page and "60 s" in page
