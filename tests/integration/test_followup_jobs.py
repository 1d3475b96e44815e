"""Follow-up jobs against real Redis, real worker processes and a real SMTP server (aiosmtpd).

Rules fire through the queued job; reminders, digests and summaries reach the
SMTP server once each, with counts and a link and never a person's name; a job
for a deleted contact is a clean no-op; the reconciler puts back what a Redis
flush lost.
"""
from datetime import timedelta

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

from crm.extensions import db
from crm.jobs import enqueue_now, get_queue
from crm.models import FollowUp, FollowUpRule, Outbox, StageChange
from crm.models.base import utcnow
from crm.redis_conn import get_redis
from crm.services import followup_firing, followup_mail, followup_rules, followups, reconcile
from workers import periodic

NAMES = ("Zofia Zielinska", "Yury Yablonski", "Xenia Xavier")


@pytest.fixture
def rules(app):
    followup_rules.seed_defaults()
    db.session.commit()
    return {rule.path: rule for rule in db.session.scalars(select(FollowUpRule))}


@pytest.fixture
def staff(make_user):
    made = {}
    for login, role, clearance in (("ala", "staff", False), ("bo", "staff", False), ("cleo", "coordinator", True)):
        user = make_user(login, role, clearance)[0]
        user.email = f"{login}@staff.test"
        made[login] = user
    db.session.commit()
    return made


def _contact(make_contact, user, name, paths=("volunteering",)):
    contact = make_contact(name, paths=paths)
    contact.assignee_id = user.id
    db.session.commit()
    return contact


def _task(contact, user, days, path="volunteering", kind="call"):
    followup = followups.create(contact.id, kind, (utcnow() + timedelta(days=days)).date(), user, path=path)
    db.session.commit()
    return followup


def _texts(message):
    return message.get_body(("plain",)).get_content() + message.get_body(("html",)).get_content()


def _no_names(messages):
    for message in messages:
        whole = message.as_string()
        assert not any(name.split()[0] in whole for name in NAMES), message["Subject"]


def test_a_rule_fires_through_the_worker_once_even_when_its_job_runs_twice(rules, staff, make_contact, run_worker,
                                                                             app):
    contact = _contact(make_contact, staff["ala"], NAMES[0])
    contact_id, ala_id = contact.id, staff["ala"].id
    change_id = db.session.scalar(select(StageChange.id).join(StageChange.path_choice)
                                  .where(StageChange.path_choice.has(contact_id=contact.id)))
    assert followup_firing.job_id(change_id) in get_queue("default", app).get_job_ids()
    run_worker("default")
    enqueue_now("workers.jobs.apply_followup_rules", change_id, job_id="twice")
    run_worker("default")
    job = Job.fetch("twice", connection=get_redis(app), serializer=JSONSerializer)
    assert job.get_status() == "finished" and job.return_value()["already"] == 1
    db.session.remove()
    rows = list(db.session.scalars(select(FollowUp).where(FollowUp.contact_id == contact_id)))
    assert [(f.kind, f.assignee_id) for f in rows] == [("call", ala_id)]


def test_a_job_for_a_deleted_contact_is_a_clean_no_op(rules, staff, make_contact, run_worker, app):
    from crm.models import Contact

    contact = _contact(make_contact, staff["ala"], NAMES[0])
    change_id = db.session.scalar(select(StageChange.id).join(StageChange.path_choice)
                                  .where(StageChange.path_choice.has(contact_id=contact.id)))
    db.session.delete(db.session.get(Contact, contact.id))
    db.session.commit()
    run_worker("default")
    job = Job.fetch(followup_firing.job_id(change_id), connection=get_redis(app), serializer=JSONSerializer)
    assert job.get_status() == "finished"
    assert job.return_value()["missing"] == 1
    assert db.session.scalar(select(FollowUp.id)) is None


def test_the_overdue_reminder_is_sent_once_even_when_the_job_runs_twice(staff, make_contact, smtp_server,
                                                                        run_worker):
    contact = _contact(make_contact, staff["ala"], NAMES[0])
    _task(contact, staff["ala"], days=-1)
    earliest = _task(contact, staff["ala"], days=-2).id
    _task(contact, staff["ala"], days=3)  # not overdue
    assert periodic.send_followup_reminders()["queued"] == 1
    assert periodic.send_followup_reminders()["queued"] == 0
    assert reconcile.run_all()["followup_reminders"] == 0
    run_worker("mail")
    [message] = smtp_server.messages
    assert message["To"] == "ala@staff.test"
    body = _texts(message)
    assert "2 overdue tasks" in body and "/followups/" in body
    _no_names(smtp_server.messages)
    assert db.session.scalar(select(Outbox.idempotency_key)) == f"reminder:{earliest}"


def test_a_reminder_comes_again_only_for_newly_overdue_work(staff, make_contact, smtp_server, run_worker):
    contact = _contact(make_contact, staff["ala"], NAMES[0])
    _task(contact, staff["ala"], days=-1)
    periodic.send_followup_reminders()
    later = _task(contact, staff["ala"], days=1)
    periodic.send_followup_reminders(), periodic.send_followup_reminders()
    followup_mail.send_overdue_reminders(now=utcnow() + timedelta(days=3))
    db.session.commit()
    run_worker("mail")
    assert len(smtp_server.messages) == 2
    assert db.session.scalar(select(Outbox.id).where(Outbox.idempotency_key == f"reminder:{later.id}"))


def test_the_daily_digest_is_right_per_user_and_sent_once(staff, make_contact, smtp_server, run_worker):
    mine = _contact(make_contact, staff["ala"], NAMES[0])
    theirs = _contact(make_contact, staff["bo"], NAMES[1])
    secret = _contact(make_contact, staff["ala"], NAMES[2], paths=("combat_service", "volunteering"))
    _task(mine, staff["ala"], days=-1)
    _task(mine, staff["ala"], days=0)
    _task(mine, staff["ala"], days=3)
    _task(mine, staff["ala"], days=30)  # beyond the week: not in the digest
    _task(theirs, staff["bo"], days=0)
    _task(secret, staff["cleo"], days=0, path="combat_service", kind="vetting")
    assert periodic.send_followup_digests()["queued"] == 3
    assert periodic.send_followup_digests()["queued"] == 0
    run_worker("mail")
    by_to = {m["To"]: _texts(m) for m in smtp_server.messages}
    assert len(smtp_server.messages) == 3
    assert "Overdue: 1" in by_to["ala@staff.test"] and "Due today: 1" in by_to["ala@staff.test"]
    assert "Due in the next days: 1" in by_to["ala@staff.test"]
    assert "Overdue: 0" in by_to["bo@staff.test"] and "Due today: 1" in by_to["bo@staff.test"]
    assert "Due today: 1" in by_to["cleo@staff.test"]
    _no_names(smtp_server.messages)
    subjects = " ".join(m["Subject"] for m in smtp_server.messages).lower()
    assert "combat" not in subjects and "vetting" not in " ".join(by_to.values()).lower()


def test_the_digest_counts_no_restricted_work_for_a_user_without_clearance(staff, make_contact):
    contact = _contact(make_contact, staff["ala"], NAMES[2], paths=("combat_service", "volunteering"))
    restricted = _task(contact, staff["cleo"], days=0, path="combat_service", kind="vetting")
    # clearance taken away after the follow-up was given: it no longer counts for them
    db.session.execute(FollowUp.__table__.update().where(FollowUp.id == restricted.id)
                       .values(assignee_id=staff["ala"].id))
    db.session.commit()
    counts = followup_mail.digest_counts(utcnow().date())
    assert staff["ala"].id not in counts


def test_the_weekly_summary_goes_to_coordinators_with_team_counts(staff, make_contact, smtp_server, run_worker):
    contact = _contact(make_contact, staff["ala"], NAMES[0])
    _task(contact, staff["ala"], days=-1)
    done = _task(contact, staff["ala"], days=2)
    followups.complete(done.id, "done", staff["ala"])
    db.session.commit()
    assert periodic.send_followup_summaries()["queued"] == 1
    assert periodic.send_followup_summaries()["queued"] == 0
    run_worker("mail")
    [message] = smtp_server.messages
    body = _texts(message)
    assert message["To"] == "cleo@staff.test"
    assert "Open: 1" in body and "Overdue: 1" in body and "Done in the last 7 days: 1" in body
    _no_names(smtp_server.messages)


def test_the_retention_purge_blanks_old_outcomes_only(staff, make_contact, app):
    contact = _contact(make_contact, staff["ala"], NAMES[0])
    old, recent = _task(contact, staff["ala"], 0).id, _task(contact, staff["ala"], 0).id
    followups.complete(old, "old outcome", staff["ala"])
    followups.cancel(recent, "recent reason", staff["ala"])
    db.session.commit()
    days = app.config["FOLLOWUP_OUTCOME_RETENTION_DAYS"]
    db.session.execute(FollowUp.__table__.update().where(FollowUp.id == old)
                       .values(completed_at=utcnow() - timedelta(days=days + 1)))
    db.session.commit()
    assert periodic.purge_followup_outcomes() == {"purged": 1, "older_than_days": days}
    assert periodic.purge_followup_outcomes()["purged"] == 0
    db.session.remove()
    purged, kept = db.session.get(FollowUp, old), db.session.get(FollowUp, recent)
    assert (purged.outcome, purged.status) == (None, "done") and purged.purged_at is not None
    assert kept.cancel_reason == "recent reason"


def test_after_a_redis_flush_the_reconciler_fires_the_lost_rules(rules, staff, make_contact, app, monkeypatch):
    contacts = [_contact(make_contact, staff["ala"], name) for name in NAMES]
    get_redis(app).flushdb()  # every queued rule job is gone
    monkeypatch.setitem(app.config, "RECONCILE_GRACE_SECONDS", 0)
    results = reconcile.run_all()
    assert results["followup_rules"] == 3
    assert reconcile.run_all()["followup_rules"] == 0
    assert {f.contact_id for f in db.session.scalars(select(FollowUp))} == {c.id for c in contacts}


def test_a_scheduled_reminder_is_queued_for_the_due_time(staff, make_contact, app):
    contact = _contact(make_contact, staff["ala"], NAMES[0])
    followup = _task(contact, staff["ala"], days=2)
    scheduled = get_queue("mail", app).scheduled_job_registry.get_job_ids()
    assert any(job_id.startswith(f"followup-remind-{followup.id}-") for job_id in scheduled)
    assert followup_mail.remind_when_due(followup.id)["queued"] == 0  # not due yet
    db.session.execute(FollowUp.__table__.update().where(FollowUp.id == followup.id)
                       .values(due_at=utcnow() - timedelta(minutes=5)))
    assert followup_mail.remind_when_due(followup.id)["queued"] == 1
    db.session.commit()
    assert followup_mail.remind_when_due(followup.id)["queued"] == 0  # reminded already


def test_a_moved_follow_up_that_falls_overdue_again_is_reminded_again(staff, make_contact, smtp_server, run_worker):
    contact = _contact(make_contact, staff["ala"], NAMES[0])
    followup_id = _task(contact, staff["ala"], days=-1).id
    assert periodic.send_followup_reminders()["queued"] == 1
    followups.reschedule(followup_id, (utcnow() + timedelta(days=1)).date(), staff["ala"])
    db.session.commit()
    later = utcnow() + timedelta(days=2)
    assert followup_mail.send_overdue_reminders(now=later)["queued"] == 0  # its key was used: once per key
    db.session.rollback()
    other_id = _task(contact, staff["ala"], days=1).id
    result = followup_mail.send_overdue_reminders(now=later)
    db.session.commit()
    assert result["queued"] == 1
    keys = set(db.session.scalars(select(Outbox.idempotency_key)))
    assert keys == {f"reminder:{followup_id}", f"reminder:{other_id}"}


def _redis_dump(app):
    redis = get_redis(app)
    blobs = []
    for key in redis.scan_iter(count=500):
        blobs.append(key)
        dumped = redis.dump(key)
        if dumped:
            blobs.append(dumped)
        if redis.type(key) == b"hash":
            blobs.extend(v for pair in redis.hgetall(key).items() for v in pair)
    return b"\n".join(blobs)


def test_no_person_and_no_staff_address_in_redis_logs_or_staff_mail(rules, staff, make_contact, smtp_server,
                                                                      run_worker, app, captured_logs):
    import zlib

    contact = _contact(make_contact, staff["ala"], "Mrkqwertyuiop Mrkasdfghjkl")
    followup_id = _task(contact, staff["ala"], days=-1).id
    followups.complete(followup_id, "Mrkoutcomezxcv agreed", staff["ala"])
    db.session.commit()
    _task(contact, staff["ala"], days=-2)
    periodic.send_followup_reminders()
    periodic.send_followup_digests()
    output = run_worker("default", "mail")
    assert len(smtp_server.messages) == 2
    raw = _redis_dump(app)
    texts = [raw]
    for blob in raw.split(b"\n"):
        try:
            texts.append(zlib.decompress(blob))
        except zlib.error:
            pass
    places = {"redis": b"\n".join(texts), "worker output": output.encode(), "logs": "\n".join(captured_logs).encode()}
    for needle in (b"Mrkqwertyuiop", b"Mrkasdfghjkl", b"Mrkoutcomezxcv", b"ala@staff.test"):
        for where, haystack in places.items():
            hits = [line for line in haystack.split(b"\n") if needle in line]
            assert not hits, (needle, where, hits[:3])
    _no_names(smtp_server.messages)
    assert not any("Mrk" in m.as_string() for m in smtp_server.messages)
