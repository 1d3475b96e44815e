"""Mail goes through the Outbox, once: queue -> real worker -> real SMTP server on loopback."""
import time
import uuid

from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from crm.extensions import db
from crm.models import Outbox
from crm.redis_conn import get_redis
from crm.services import mail

TO = "mail-marker-7c1@example.org"


def _queue(key="test:1", to=TO, reference="ref-1"):
    outbox_id = mail.queue_mail(key=key, kind="system.test", to=to, template="system/test_message",
                                locale="en", context={"reference": reference})
    db.session.commit()
    return outbox_id


def _row(outbox_id):
    db.session.expire_all()
    return db.session.get(Outbox, outbox_id)


def test_queued_mail_reaches_the_smtp_server_with_both_parts(app, smtp_server, run_worker):
    outbox_id = _queue()
    assert mail.queue_mail(key="test:1", kind="system.test", to=TO, template="system/test_message",
                           context={"reference": "x"}) is None  # the same key: nothing new
    db.session.commit()
    output = run_worker("mail")
    assert len(smtp_server.messages) == 1, output[-3000:]
    message = smtp_server.messages[0]
    assert message["To"] == TO and message["Subject"] == "Test message"
    assert message["Message-ID"] == f"<{outbox_id}@localhost>" and message["Date"]
    assert message["From"] == app.config["MAIL_DEFAULT_SENDER"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "ref-1" in text and "<code>ref-1</code>" in html
    row = _row(outbox_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None) and row.sent_at


def test_the_row_is_encrypted_and_the_job_holds_only_the_id(app):
    outbox_id = _queue()
    raw = db.session.execute(select(Outbox.__table__)).mappings().one()
    assert TO.encode() not in raw["recipient_ct"] and b"Test message" not in raw["subject_ct"]
    job = Job.fetch(mail.job_id_for(outbox_id), connection=get_redis(app), serializer=JSONSerializer)
    assert job.args == [str(outbox_id)] and job.origin == "mail"


def test_a_job_run_twice_sends_once(app, smtp_server, run_worker):
    outbox_id = _queue()
    run_worker("mail")
    mail.enqueue_send(outbox_id, now=True)  # the same job again, e.g. queued by a reconciler
    run_worker("mail")
    assert len(smtp_server.messages) == 1
    assert _row(outbox_id).attempts == 1


def test_rolled_back_mail_is_neither_stored_nor_queued(app):
    mail.queue_mail(key="test:rollback", kind="system.test", to=TO, template="system/test_message",
                    context={"reference": "r"})
    db.session.rollback()
    assert db.session.scalar(select(Outbox.id)) is None
    assert mail.job_id_for("x") not in get_redis(app).keys("rq:job:*")
    assert get_redis(app).keys("rq:job:*") == []


def _wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_transient_failures_are_retried_then_succeed(app, smtp_server, start_worker):
    smtp_server.answer_data(451, 451)
    app.config["MAIL_RETRY_INTERVALS"] = "1,1,1"
    try:
        outbox_id = _queue()
    finally:
        app.config["MAIL_RETRY_INTERVALS"] = "10,60,300,900,3600"
    start_worker("mail")  # its scheduler moves the retries back to the queue
    assert _wait_for(lambda: _row(outbox_id).status == "sent"), _row(outbox_id).last_error
    assert _row(outbox_id).attempts == 3
    assert len(smtp_server.messages) == 1


def test_a_permanent_failure_fails_the_row_and_the_job(app, smtp_server, run_worker):
    smtp_server.reject_rcpt[TO] = 550
    outbox_id = _queue()
    run_worker("mail")
    row = _row(outbox_id)
    assert (row.status, row.last_error, row.attempts) == ("failed", "smtp-550-rcpt", 1)
    registry = FailedJobRegistry("mail", connection=get_redis(app), serializer=JSONSerializer)
    assert registry.get_job_ids() == [mail.job_id_for(outbox_id)]
    job = Job.fetch(mail.job_id_for(outbox_id), connection=get_redis(app), serializer=JSONSerializer)
    assert "PermanentMailError: smtp-550-rcpt" in job.latest_result().exc_string
    assert TO not in job.latest_result().exc_string
    assert smtp_server.messages == []


def test_the_file_backend_writes_one_eml_per_message(app, run_worker, instance_dir):
    outbox_id = _queue()
    run_worker("mail")
    files = list((instance_dir / "outbox").glob("*.eml"))
    assert [f.name for f in files] == [f"{outbox_id}.eml"]
    assert b"ref-1" in files[0].read_bytes()
    for file in files:
        file.unlink()


def test_an_unknown_outbox_id_is_a_clean_no_op(app, run_worker):
    mail.enqueue_send(uuid.uuid4(), now=True)
    output = run_worker("mail")
    assert "Traceback" not in output


def test_a_refused_connection_is_transient_until_the_last_attempt(app):
    import socket

    import pytest

    from crm.services import mail_delivery

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outbox_id = _queue()
    saved = {name: app.config[name] for name in ("MAIL_BACKEND", "MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    try:
        with pytest.raises(mail_delivery.TransientMailError, match="connect-ConnectionRefusedError"):
            mail_delivery.deliver(outbox_id, last_attempt=False)
        assert (_row(outbox_id).status, _row(outbox_id).attempts) == ("pending", 0)
        with pytest.raises(mail_delivery.TransientMailError):
            mail_delivery.deliver(outbox_id, last_attempt=True)
    finally:
        app.config.update(saved)
    row = _row(outbox_id)
    assert (row.status, row.last_error) == ("failed", "gave-up-connect-ConnectionRefusedError")


def test_a_second_claim_loses_and_a_stale_one_is_taken_over(app):
    from datetime import timedelta

    from sqlalchemy import update

    from crm.models.base import utcnow
    from crm.services import mail_delivery

    outbox_id = _queue()
    first = mail_delivery.claim(outbox_id, lease_seconds=300)
    assert first and mail_delivery.claim(outbox_id, lease_seconds=300) is None
    db.session.execute(update(Outbox).values(claimed_at=utcnow() - timedelta(seconds=301)))
    db.session.commit()
    second = mail_delivery.claim(outbox_id, lease_seconds=300)
    assert second and second != first
    assert not mail_delivery.start_data(outbox_id, first)  # the old claimant stops before DATA
    assert mail_delivery.start_data(outbox_id, second)
    db.session.execute(update(Outbox).values(claimed_at=utcnow() - timedelta(seconds=301)))
    db.session.commit()
    assert mail_delivery.claim(outbox_id, lease_seconds=300) is None  # DATA began: in doubt, never retaken
    assert mail_delivery.mark_sent(outbox_id, second) and _row(outbox_id).status == "sent"
