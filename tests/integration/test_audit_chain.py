"""The audit log's hash chain: intact it verifies, edited or cut it names the broken row."""
import pytest
from sqlalchemy import select, text

from crm.extensions import db
from crm.models import AuditEvent
from crm.security import audit


@pytest.fixture
def chain(make_contact):
    """Five committed events (contact.create each); returns their ids in order."""
    for n in range(5):
        make_contact(f"Ola Kot{chr(97 + n)}")
    ids = list(db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    assert len(ids) == 5
    return ids


def _verify(runner):
    db.session.remove()
    return runner.invoke(args=["crm", "audit", "verify"])


def test_events_link_to_the_previous_hash(chain):
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert events[0].prev_hash == audit.GENESIS
    for before, after in zip(events, events[1:]):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in events}) == 5


def test_intact_chain_verifies(runner, chain):
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "OK: 5 audit events, chain intact."


def test_events_recorded_in_one_flush_and_several_commits_chain(app, make_contact, runner):
    audit.record("test.one", "thing", 1)
    audit.record("test.two", "thing", 2, count=2)
    db.session.commit()
    make_contact("Ola Kot")
    audit.record("test.three", "thing", 3)
    db.session.rollback()  # a rolled-back event leaves no gap
    audit.record("test.four", "thing", 4)
    db.session.commit()
    result = _verify(runner)
    assert result.exit_code == 0 and "OK: 4 audit events" in result.output, result.output


def test_edited_details_are_detected(runner, chain):
    middle = chain[2]
    with db.engine.begin() as conn:
        conn.execute(AuditEvent.__table__.update().where(AuditEvent.id == middle)
                     .values(details={"source": "self", "paths": [], "duplicate_candidates": 0}))
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN at audit event {middle}: its content does not match its hash" in result.output
    assert "2 events before it verified" in result.output


def test_edited_action_is_detected_by_raw_sql(runner, chain):
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET action = 'contact.view' WHERE id = :id"), {"id": chain[1]})
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN at audit event {chain[1]}" in result.output


def test_rehashed_row_breaks_the_link_of_the_next(runner, chain):
    """Editing a row and recomputing its own hash still breaks the next row's prev_hash."""
    row = db.session.get(AuditEvent, chain[1])
    row.action = "contact.view"
    new_hash = audit.compute_hash(row.prev_hash, row)
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET action = 'contact.view', hash = :h WHERE id = :id"),
                     {"h": new_hash, "id": chain[1]})
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN at audit event {chain[2]}: its prev_hash does not match" in result.output


def test_deleted_middle_row_is_detected(runner, chain):
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": chain[2]})
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN at audit event {chain[3]}: its prev_hash does not match the row before it " \
           f"(a row was deleted or re-ordered)" in result.output


def test_deleted_first_row_is_detected(runner, chain):
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": chain[0]})
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN at audit event {chain[1]}" in result.output


def test_verify_through_the_real_cli(flask_cli, chain):
    ok = flask_cli("audit", "verify")
    assert ok.returncode == 0 and "OK: 5 audit events" in ok.stdout
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": chain[3]})
    broken = flask_cli("audit", "verify")
    assert broken.returncode == 1
    assert f"BROKEN at audit event {chain[4]}" in broken.stdout
    assert "Traceback" not in broken.stdout + broken.stderr
