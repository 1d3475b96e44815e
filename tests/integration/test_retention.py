"""Retention by stage (issue 8 item 6, docs/decisions/0024-retention.md): the rules at their
boundary days, holds, hiding on every surface, erasure without a trace, re-runs and the
30-day forecast. Times are explicit ``now`` values, never sleeps."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from crm.extensions import db
from crm.models import (
    Attendance,
    AuditEvent,
    Contact,
    ContactIndex,
    ContactNote,
    ContactTriage,
    ErasureCounter,
    FollowUp,
    PathChoice,
    RetentionHold,
    StageChange,
)
from crm.services import contact_notes, retention
from crm.services.contacts import move_stage
from crm.services.retention import Periods
from tests.integration.test_erasure import _every_table_raw

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
PERIODS = Periods(declined=365 * DAY, withdrawn=200 * DAY, stale=730 * DAY, grace=90 * DAY)
CONFIG = {"RETENTION_DECLINED_DAYS": 365, "RETENTION_WITHDRAWN_DAYS": 200, "RETENTION_STALE_DAYS": 730,
          "RETENTION_GRACE_DAYS": 90, "RETENTION_BATCH": 2}


def age(contact_id, at=T):
    """Put every activity of the contact (and its creation) at ``at``."""
    choices = select(PathChoice.id).where(PathChoice.contact_id == contact_id)
    db.session.execute(update(Contact).where(Contact.id == contact_id, Contact.consent_at.is_not(None))
                       .values(consent_at=at))
    db.session.execute(update(Contact).where(Contact.id == contact_id).values(created_at=at))
    db.session.execute(update(StageChange).where(StageChange.path_choice_id.in_(choices)).values(at=at))
    for model, column in ((ContactNote, "created_at"), (Attendance, "created_at"), (ContactTriage, "updated_at")):
        db.session.execute(update(model).where(model.contact_id == contact_id).values({column: at}))
    db.session.execute(update(FollowUp).where(FollowUp.contact_id == contact_id,
                                              FollowUp.completed_at.is_not(None)).values(completed_at=at))
    db.session.commit()


def person(make_contact, *stages, paths=("volunteering", "joint_projects"), at=T, **fields):
    contact = make_contact(paths=paths[:len(stages)] if stages else (), **fields)
    for path, stage in zip(paths, stages):
        if stage != "interested":
            move_stage(contact.id, path, stage)
    db.session.commit()
    age(contact.id, at)
    return contact.id


def due_ids(now, periods=PERIODS):
    return {d.contact_id: d.reason for d in retention.due_for_archive(periods, now)}


def contact(contact_id):
    db.session.expire_all()
    return db.session.get(Contact, contact_id)


def events(action, contact_id=None):
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if contact_id is not None:
        stmt = stmt.where(AuditEvent.target_id == str(contact_id))
    return list(db.session.scalars(stmt.order_by(AuditEvent.id)))


@pytest.mark.parametrize(("stages", "reason", "days"), [
    (("declined",), "declined", 365),
    (("declined", "declined"), "declined", 365),
    (("withdrawn",), "withdrawn", 200),
    (("withdrawn", "declined"), "withdrawn", 200),
    (("interested",), "stale", 730),
    (("interested", "interested"), "stale", 730),
    ((), "stale", 730),
])
def test_each_rule_is_due_exactly_on_its_day(make_contact, stages, reason, days):
    cid = person(make_contact, *stages)
    assert cid not in due_ids(T + days * DAY - SECOND)
    assert due_ids(T + days * DAY) == {cid: reason}


def test_not_a_fit_counts_as_declined_whatever_the_paths(make_contact, make_user):
    from crm.services import triage

    cid = person(make_contact, "interested")
    triage.not_a_fit([cid], "not_interested", make_user("coord", "coordinator")[0])
    db.session.commit()
    age(cid)
    assert due_ids(T + 365 * DAY) == {cid: "declined"}


@pytest.mark.parametrize("stages", [("contacted",), ("active",), ("declined", "screening"),
                                    ("interested", "declined"), ("withdrawn", "contacted")])
def test_a_path_still_open_beyond_interested_is_never_due(make_contact, stages):
    person(make_contact, *stages)
    assert due_ids(T + 5000 * DAY) == {}


def test_each_kind_of_activity_restarts_the_clock(make_contact, make_user):
    from crm.services import followups
    from crm.services.meetings import MeetingData, create_meeting

    coordinator = make_user("coord", "coordinator")[0]
    ids = [person(make_contact, "interested") for _ in range(4)]
    later = T + 100 * DAY
    contact_notes.add_note(contact(ids[0]), "called, no answer", coordinator)
    move_stage(ids[1], "volunteering", "declined")
    move_stage(ids[1], "volunteering", "interested")
    meeting = create_meeting(MeetingData(city="Kraków", country="PL", starts_at=datetime(2025, 6, 1, 18)))
    db.session.add(Attendance(meeting_id=meeting.id, contact_id=ids[2]))
    task = followups.create(ids[3], "call", (datetime.now(UTC) + DAY).date(), coordinator)
    db.session.commit()
    followups.complete(task.id, "done", coordinator)
    db.session.commit()
    db.session.execute(update(ContactNote).values(created_at=later))
    db.session.execute(update(StageChange).where(StageChange.at > T + SECOND).values(at=later))
    db.session.execute(update(Attendance).values(created_at=later))
    db.session.execute(update(FollowUp).values(completed_at=later))
    db.session.commit()
    assert due_ids(T + 730 * DAY) == {}
    assert set(due_ids(later + 730 * DAY)) == set(ids)


def test_a_rule_set_to_zero_is_off(make_contact):
    person(make_contact, "declined")
    off = Periods(declined=None, withdrawn=200 * DAY, stale=730 * DAY, grace=90 * DAY)
    assert due_ids(T + 5000 * DAY, off) == {}


def test_archive_then_erase_on_schedule(make_contact):
    cid = person(make_contact, "declined", email="marta.retained@example.org", phone="+48600900901")
    archived_on = T + 365 * DAY
    assert retention.run(CONFIG, now=archived_on - SECOND) == {"archived": 0, "erased": 0}
    assert retention.run(CONFIG, now=archived_on) == {"archived": 1, "erased": 0}
    row = contact(cid)
    assert (retention.aware(row.archived_at), row.archive_reason) == (archived_on, "declined")
    assert events("retention.archived", cid)[0].details == {"reason": "declined"}
    assert retention.run(CONFIG, now=archived_on + 90 * DAY - SECOND) == {"archived": 0, "erased": 0}
    assert retention.run(CONFIG, now=archived_on + 90 * DAY) == {"archived": 0, "erased": 1}
    assert contact(cid) is None
    assert [e.details["via"] for e in events("contact.erased")] == ["retention"]
    assert db.session.get(ErasureCounter, ("path_stage", "volunteering:declined")).count == 1


def test_erasure_leaves_no_plaintext_ciphertext_or_index(make_contact, make_user):
    admin = make_user("admin", "admin")[0]
    cid = person(make_contact, "withdrawn", full_name="Wiesława Zapomniana",
                 email="wieslawa.marker@example.org", phone="+48600900902", city="Toruń")
    contact_notes.add_note(contact(cid), "NoteMarkerRetention", admin)
    db.session.commit()
    age(cid)
    row = contact(cid)
    blobs = [getattr(row, c.key) for c in Contact.__table__.columns if c.key.endswith("_ct")]
    blobs += db.session.scalars(select(ContactNote.body_ct).where(ContactNote.contact_id == cid)).all()
    tokens = {tuple(r) for r in db.session.execute(select(ContactIndex.field, ContactIndex.key_id, ContactIndex.token)
                                                    .where(ContactIndex.contact_id == cid))}
    assert tokens and all(blobs[:3])
    retention.run(CONFIG, now=T + 200 * DAY)
    forgotten = []
    retention.run(CONFIG, now=T + 290 * DAY, forget_redis=forgotten.extend)
    assert [str(cid) in r["related_ids"] for r in forgotten] == [True]
    raw = _every_table_raw(skip=("alembic_version", "audit_event"))
    for plain in ("Wiesława", "Zapomniana", "wieslawa.marker", "600900902", "Toruń", "NoteMarkerRetention"):
        assert plain.encode() not in raw
    assert not [b for b in blobs if b and bytes(b) in raw]
    assert str(cid).encode() not in raw and cid.hex.encode() not in raw
    left = {tuple(r) for r in db.session.execute(select(ContactIndex.field, ContactIndex.key_id, ContactIndex.token))}
    assert not left & tokens  # the only person in the database: every index row of theirs is gone


def test_a_held_person_is_never_archived_nor_erased(make_contact, make_user):
    admin = make_user("admin", "admin")[0]
    kept, archived = person(make_contact, "declined"), person(make_contact, "declined")
    retention.hold(kept, "court case pending", admin)
    db.session.commit()
    assert retention.run(CONFIG, now=T + 365 * DAY) == {"archived": 1, "erased": 0}
    retention.hold(archived, "asked us to wait", admin)
    db.session.commit()
    assert retention.run(CONFIG, now=T + 5000 * DAY) == {"archived": 0, "erased": 0}
    assert contact(kept).archived_at is None and contact(archived).archived_at is not None
    assert [e.target_id for e in events("retention.hold")] == [str(kept), str(archived)]
    assert all(e.details == {} for e in events("retention.hold"))

    assert retention.release(archived, admin) is True
    assert retention.release(archived, admin) is False  # a clean no-op
    db.session.commit()
    assert retention.run(CONFIG, now=T + 5000 * DAY) == {"archived": 0, "erased": 1}
    assert contact(archived) is None and contact(kept) is not None


def test_hold_reason_is_encrypted_and_required(make_contact, make_user):
    from crm.services.contacts import ValidationError

    admin, coordinator = make_user("admin", "admin")[0], make_user("coord", "coordinator")[0]
    cid = person(make_contact, "declined")
    with pytest.raises(ValidationError):
        retention.hold(cid, "   ", admin)
    with pytest.raises(retention.NotFound):
        retention.hold(cid, "no right to", coordinator)
    retention.hold(cid, "HoldReasonMarker", admin)
    db.session.commit()
    with pytest.raises(retention.RetentionRefused):
        retention.hold(cid, "twice", admin)
    assert b"HoldReasonMarker" not in _every_table_raw()
    db.session.expire_all()
    assert db.session.scalar(select(RetentionHold)).reason == "HoldReasonMarker"


def test_restore_brings_the_person_back_and_restarts_the_clock(make_contact, make_user):
    admin = make_user("admin", "admin")[0]
    cid = person(make_contact, "declined")
    retention.run(CONFIG, now=T + 365 * DAY)
    with pytest.raises(retention.RetentionRefused):
        retention.restore(person(make_contact, "contacted"), "not archived", admin)
    retention.restore(cid, "RestoreReasonMarker: wants to help again", admin)
    db.session.commit()
    assert contact(cid).archived_at is None
    assert [n.body for n in db.session.scalars(select(ContactNote).where(ContactNote.contact_id == cid))] == [
        "RestoreReasonMarker: wants to help again"]
    assert events("retention.restored", cid)[0].details == {"reason": "declined"}
    assert b"RestoreReasonMarker" not in _every_table_raw()
    # The note is activity: not due again until a full period after it.
    assert due_ids(T + 400 * DAY) == {}


def test_rerun_is_a_no_op_and_a_killed_run_resumes(make_contact):
    ids = [person(make_contact, "declined") for _ in range(5)]
    now = T + 365 * DAY
    assert retention.run(CONFIG, now=now)["archived"] == 5
    assert retention.run(CONFIG, now=now) == {"archived": 0, "erased": 0}
    assert len(events("retention.archived")) == 5

    calls = []

    def die_on_second_batch(results):
        calls.append(len(results))
        if len(calls) == 2:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        retention.run(CONFIG, now=now + 90 * DAY, forget_redis=die_on_second_batch)
    db.session.rollback()
    assert sum(contact(i) is None for i in ids) == 2  # the first batch (RETENTION_BATCH=2) committed
    assert retention.run(CONFIG, now=now + 90 * DAY) == {"archived": 0, "erased": 3}
    assert retention.run(CONFIG, now=now + 90 * DAY) == {"archived": 0, "erased": 0}


def test_forecast_of_the_next_30_days(make_contact, make_user):
    admin = make_user("admin", "admin")[0]
    now = T + 400 * DAY
    # Archive day = last activity + period; each placed relative to ``now``.
    in_10 = person(make_contact, "declined", at=now + 10 * DAY - 365 * DAY)
    in_30 = person(make_contact, "withdrawn", at=now + 30 * DAY - 200 * DAY)
    in_31 = person(make_contact, "interested", at=now + 31 * DAY - 730 * DAY)
    overdue = person(make_contact, "interested", at=now - 5 * DAY - 730 * DAY)
    held = person(make_contact, "declined", at=now - 365 * DAY)
    retention.hold(held, "keep", admin)
    # Already archived: erased 20 days from now, and 40 days from now.
    gone_20 = person(make_contact, "declined", at=T)
    gone_40 = person(make_contact, "withdrawn", at=T)
    db.session.execute(update(Contact).where(Contact.id == gone_20).values(
        archived_at=now + 20 * DAY - 90 * DAY, archive_reason="declined"))
    db.session.execute(update(Contact).where(Contact.id == gone_40).values(
        archived_at=now + 40 * DAY - 90 * DAY, archive_reason="withdrawn"))
    db.session.commit()

    result = retention.forecast(PERIODS, now=now)
    assert [(d.contact_id, d.reason, d.on) for d in result.archive] == [
        (overdue, "stale", now), (in_10, "declined", now + 10 * DAY), (in_30, "withdrawn", now + 30 * DAY)]
    assert [(d.contact_id, d.on) for d in result.erase] == [(gone_20, now + 20 * DAY)]
    assert result.counts == {"archive": {"stale": 1, "declined": 1, "withdrawn": 1}, "erase": {"declined": 1}}
    # A grace shorter than the window: people archived in it are erased in it too.
    short = Periods(PERIODS.declined, PERIODS.withdrawn, PERIODS.stale, grace=15 * DAY)
    result = retention.forecast(short, now=now)
    assert sorted((d.on, str(d.contact_id)) for d in result.erase) == sorted([
        (now, str(gone_20)), (now, str(gone_40)), (now + 15 * DAY, str(overdue)), (now + 25 * DAY, str(in_10))])
    assert in_31 not in {d.contact_id for d in result.archive + result.erase}


def test_someone_who_comes_back_is_brought_back_by_the_reconciler(make_contact, app):
    from crm.services import reconcile
    from crm.services.meetings import MeetingData, create_meeting

    by_attendance, by_consent, still = (person(make_contact, "declined") for _ in range(3))
    retention.run(CONFIG, now=T + 365 * DAY)
    assert all(contact(i).archived_at is not None for i in (by_attendance, by_consent, still))
    meeting = create_meeting(MeetingData(city="Vilnius", country="LT", starts_at=datetime(2026, 11, 20, 18)))
    db.session.add(Attendance(meeting_id=meeting.id, contact_id=by_attendance))  # an import or a capture
    # A confirmed registration merged into them records the new consent.
    db.session.execute(update(Contact).where(Contact.id == by_consent).values(consent_at=T + 400 * DAY))
    db.session.commit()
    assert reconcile.run_all(app)["retention_returned"] == 2
    assert contact(by_attendance).archived_at is None and contact(by_consent).archived_at is None
    assert contact(still).archived_at is not None
    assert {e.target_id for e in events("retention.returned")} == {str(by_attendance), str(by_consent)}
    assert reconcile.run_all(app)["retention_returned"] == 0


def test_the_schedule_holds_the_daily_job():
    import workers.cron_config  # noqa: F401 -- the schedule registers its jobs
    from rq.cron import _job_data_registry

    entries = [e for e in _job_data_registry if e["func"].__name__ == "apply_retention"]
    assert entries and all(e["queue_name"] == "maintenance" for e in entries)


def test_a_real_worker_archives_and_erases_and_leaves_no_result(make_contact, run_worker, app):
    from crm.jobs import get_queue
    from crm.redis_conn import get_redis

    now = datetime.now(UTC)
    due = person(make_contact, "declined", at=now - 400 * DAY)
    gone = person(make_contact, "withdrawn", email="gone.retention@example.org", at=now - 800 * DAY)
    db.session.execute(update(Contact).where(Contact.id == gone).values(
        archived_at=now - 91 * DAY, archive_reason="withdrawn"))
    kept = person(make_contact, "declined", at=now - 10 * DAY)
    db.session.commit()
    job = get_queue("maintenance").enqueue("workers.periodic.apply_retention")
    output = run_worker("maintenance")
    failed = get_queue("maintenance").failed_job_registry
    assert contact(due).archive_reason == "declined", (output, [
        failed.job_class.fetch(i, connection=failed.connection, serializer=failed.serializer).exc_info
        for i in failed.get_job_ids()])
    assert contact(gone) is None and contact(kept).archived_at is None
    assert not get_redis(app).exists(f"rq:job:{job.id}")  # result_ttl 0: nothing stays in Redis
