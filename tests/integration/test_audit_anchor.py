"""Anchors of the audit chain outside the database (decision 0033): the newest events cut
off, or the chain rewritten with recomputed hashes, pass the chain check alone and are
caught by an anchor from the anchor file or from the log."""
import json
import re
import stat

import pytest
from sqlalchemy import select, text

from crm.extensions import db
from crm.models import AuditEvent
from crm.security import audit
from crm.security.audit_anchor import anchor_path, write_anchor
from workers.periodic import anchor_audit_chain


@pytest.fixture
def chain(make_contact):
    """Five committed events (contact.create each); returns their ids in order."""
    for n in range(5):
        make_contact(f"Ola Kot{chr(97 + n)}")
    return list(db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def _verify(runner, *args):
    db.session.remove()
    return runner.invoke(args=["crm", "audit", "verify", *args])


def _anchor():
    written = write_anchor(db.session)
    db.session.remove()
    return written


def _lines(app):
    return [json.loads(line) for line in anchor_path(app).read_text().splitlines()]


def _rewrite_from(event_id, action):
    """What a thief with write access to the database can do: edit a row and recompute
    every hash after it, so the chain alone still verifies."""
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.id >= event_id).order_by(AuditEvent.id)).all()
    prev = rows[0].prev_hash
    new = []
    for row in rows:
        if row.id == event_id:
            row.action = action
        row.prev_hash = prev
        prev = audit.compute_hash(prev, row)
        new.append((row.id, row.action, row.prev_hash, prev))
    db.session.rollback()
    with db.engine.begin() as conn:
        for row_id, action_, prev_hash, digest in new:
            conn.execute(text("UPDATE audit_event SET action = :a, prev_hash = :p, hash = :h WHERE id = :id"),
                         {"a": action_, "p": prev_hash, "h": digest, "id": row_id})


def test_the_head_is_anchored_once_until_the_log_grows(app, chain, make_contact):
    first = _anchor()
    head = db.session.get(AuditEvent, chain[-1])
    assert (first.event_id, first.hash) == (head.id, head.hash)
    assert _anchor() is None  # an idle log writes nothing more
    make_contact("Ola Nowak")
    second = _anchor()
    assert second.event_id > first.event_id
    lines = _lines(app)
    assert [(line["id"], line["hash"]) for line in lines] == [(first.event_id, first.hash), (second.event_id, second.hash)]
    assert set(lines[0]) == {"id", "hash", "at", "key", "mac"}  # ids and digests only
    assert stat.S_IMODE(anchor_path(app).stat().st_mode) == 0o600


def test_an_empty_log_is_not_anchored(app):
    assert _anchor() is None
    assert not anchor_path(app).exists()


def test_anchors_that_match_are_reported(runner, chain):
    _anchor()
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert "OK: 5 audit events, chain intact." in result.output
    assert f"1 anchor outside the database matches; the newest is audit event {chain[-1]}, written " in result.output


def test_without_anchors_verify_says_what_it_cannot_see(runner, chain, app):
    result = _verify(runner)
    assert result.exit_code == 0
    assert f"No anchor in {anchor_path(app)} to check" in result.output


def test_cut_off_newest_events_pass_the_chain_but_not_the_anchor(runner, chain, app):
    anchored = _anchor()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id >= :id"), {"id": chain[3]})
    result = _verify(runner)
    assert result.exit_code == 1
    assert (f"BROKEN at audit event {anchored.event_id}: it is missing, but line 1 of {anchor_path(app)} anchored it "
            f"written ") in result.output
    assert "(the newest events were deleted). 3 events before it verified." in result.output
    anchor_path(app).unlink()
    assert _verify(runner).exit_code == 0  # what the chain alone cannot see


def test_a_rewritten_chain_passes_the_chain_but_not_the_anchor(runner, chain, app):
    _anchor()
    _rewrite_from(chain[1], "contact.view")
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN at audit event {chain[-1]}: its hash differs from the anchor in line 1 of" in result.output
    assert "(the log was rewritten from here or before)" in result.output
    anchor_path(app).unlink()
    assert _verify(runner).exit_code == 0


def test_a_deleted_anchored_row_with_the_chain_re_linked_is_caught(runner, make_contact, app):
    for n in range(3):
        make_contact(f"Ola Kot{chr(97 + n)}")
    anchored = _anchor()
    make_contact("Ola Nowak")
    ids = list(db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": anchored.event_id})
    before = db.session.scalars(select(AuditEvent.hash).where(AuditEvent.id == ids[1])).one()
    with db.engine.begin() as conn:  # link the next row to the one before the deleted one
        conn.execute(text("UPDATE audit_event SET prev_hash = :p WHERE id = :id"), {"p": before, "id": ids[3]})
    db.session.remove()
    row = db.session.get(AuditEvent, ids[3])
    digest = audit.compute_hash(before, row)
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET hash = :h WHERE id = :id"), {"h": digest, "id": ids[3]})
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN at audit event {anchored.event_id}: it is missing" in result.output
    assert "(it was deleted and the chain re-linked)" in result.output


def test_an_edited_or_forged_anchor_line_is_refused(runner, chain, app):
    _anchor()
    path = anchor_path(app)
    line = _lines(app)[0]
    forged = dict(line, hash="0" * 64)  # a thief's anchor for a rewritten chain, without the key
    path.write_text(path.read_text() + json.dumps(forged) + "\n")
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN: line 2 of {path} does not match its MAC (the anchor was edited or forged)." in result.output
    path.write_text(json.dumps(line) + "\nnot json\n")
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN: line 2 of {path} is not an anchor" in result.output
    assert "Traceback" not in result.output


def test_anchors_under_a_retired_key_are_counted_not_checked(runner, chain, app):
    _anchor()
    path = anchor_path(app)
    line = _lines(app)[0]
    path.write_text(json.dumps(dict(line, key=999, hash="f" * 64)) + "\n" + path.read_text())
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert "1 anchor outside the database matches;" in result.output
    assert "1 anchor made under retired keys not checked" in result.output


def test_an_anchor_from_the_log_catches_a_cut_when_the_file_is_gone(runner, chain, app, captured_logs):
    _anchor()
    logged = [line for line in captured_logs if "audit anchor" in line]
    assert len(logged) == 1
    assert "Ola" not in logged[0]  # ids and digests only
    token = re.search(r"audit anchor (\d+:[0-9a-f]{64})", logged[0]).group(1)
    anchor_path(app).unlink()  # the thief deleted the file too; the log went to another host
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": chain[-1]})
    result = _verify(runner, "--anchor", token)
    assert result.exit_code == 1
    assert f"BROKEN at audit event {chain[-1]}: it is missing, but --anchor {chain[-1]} anchored it" in result.output


def test_a_malformed_anchor_option_is_a_usage_error(runner, chain):
    result = _verify(runner, "--anchor", "12:nothex")
    assert result.exit_code == 2
    assert "is not an anchor: write ID:HASH" in result.output
    assert "Traceback" not in result.output


def test_the_cron_job_anchors_and_the_schedule_holds_it(app, chain):
    import workers.cron_config  # noqa: F401 -- the schedule registers its jobs
    from rq.cron import _job_data_registry

    entries = [e for e in _job_data_registry if e["func"].__name__ == "anchor_audit_chain"]
    assert entries and all(e["queue_name"] == "maintenance" and e["interval"] == 600 for e in entries)
    assert anchor_audit_chain() == {"anchored": chain[-1]}
    assert anchor_audit_chain() == {"anchored": None}
    assert [line["id"] for line in _lines(app)] == [chain[-1]]


def test_anchor_and_verify_through_the_real_cli(flask_cli, chain):
    anchored = flask_cli("audit", "anchor")
    assert anchored.returncode == 0, anchored.stderr
    assert f"Anchored audit event {chain[-1]} (" in anchored.stdout
    again = flask_cli("audit", "anchor")
    assert "Nothing new to anchor" in again.stdout
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": chain[-1]})
    broken = flask_cli("audit", "verify")
    assert broken.returncode == 1
    assert f"BROKEN at audit event {chain[-1]}: it is missing" in broken.stdout
    assert "Traceback" not in broken.stdout + broken.stderr


def test_an_anchor_file_that_cannot_be_written_is_a_clear_error(runner, chain, app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "AUDIT_ANCHOR_FILE", str(tmp_path / "missing-folder" / "anchors.jsonl"))
    db.session.remove()
    result = runner.invoke(args=["crm", "audit", "anchor"])
    assert result.exit_code == 1
    assert "cannot write the audit anchor file" in result.output and "check AUDIT_ANCHOR_FILE" in result.output
    assert "Traceback" not in result.output


# --- the anchor job checks what happened since the last anchor ---------------------------

def test_the_job_checks_the_rows_since_the_last_anchor_and_then_anchors(app, chain, make_contact):
    _anchor()
    make_contact("Ola Nowak")
    assert anchor_audit_chain()["anchored"] > chain[-1]
    assert len(_lines(app)) == 2


@pytest.mark.parametrize("tamper", ["cut", "rewrite", "edit_after_anchor"])
def test_the_job_refuses_to_anchor_a_tampered_chain_and_logs_an_error(app, chain, make_contact, captured_logs,
                                                                       runner, tamper):
    from crm.security.audit_anchor import AnchorError

    _anchor()
    if tamper == "cut":  # the anchored row and the ones after it go; new events follow
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_event WHERE id >= :id"), {"id": chain[3]})
        db.session.remove()
        make_contact("Ola Nowak")
        expected = f"audit chain BROKEN at audit event {chain[-1]}: it is missing"
    elif tamper == "rewrite":
        _rewrite_from(chain[1], "contact.view")
        expected = f"audit chain BROKEN at audit event {chain[-1]}: its hash differs from the anchor"
    else:
        make_contact("Ola Nowak")
        newer = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id.desc())).first()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET action = 'contact.view' WHERE id = :id"), {"id": newer})
        expected = f"audit chain BROKEN at audit event {newer}: its content does not match its hash"
    db.session.remove()
    with pytest.raises(AnchorError, match="No anchor was written"):
        anchor_audit_chain()
    assert len(_lines(app)) == 1  # a tampered chain is never anchored
    errors = [line for line in captured_logs if "audit chain BROKEN" in line]
    assert errors and expected in errors[0] and "Ola" not in errors[0]
    result = runner.invoke(args=["crm", "audit", "anchor"])
    assert result.exit_code == 1 and expected in result.output


def test_the_job_refuses_a_forged_last_anchor(app, chain):
    from crm.security.audit_anchor import AnchorError

    _anchor()
    path = anchor_path(app)
    path.write_text(path.read_text() + json.dumps(dict(_lines(app)[0], hash="0" * 64)) + "\n")
    with pytest.raises(AnchorError, match="the last line of .* does not match its MAC"):
        anchor_audit_chain()


def test_the_first_anchor_is_written_only_over_an_intact_log(app, chain):
    from crm.security.audit_anchor import AnchorError

    with db.engine.begin() as conn:  # tampered before anchoring was ever switched on
        conn.execute(text("UPDATE audit_event SET action = 'contact.view' WHERE id = :id"), {"id": chain[1]})
    with pytest.raises(AnchorError, match=f"BROKEN at audit event {chain[1]}: its content does not match"):
        anchor_audit_chain()
    assert not anchor_path(app).exists()


# --- what the audit log page tells admins ---------------------------------------------

def test_the_audit_page_says_how_far_the_log_is_anchored(signed_in, chain, app, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from crm.security import audit_anchor

    admin = signed_in("admin")
    assert "Not anchored outside the database yet" in admin.get("/admin/audit").get_data(as_text=True)
    anchored = _anchor()
    body = admin.get("/admin/audit").get_data(as_text=True)
    assert f"Anchored outside the database up to audit event {anchored.event_id}, at {anchored.at}." in body
    anchor_path(app).unlink()  # an anchor an hour old, and the log has grown since (each page view adds one)
    monkeypatch.setattr(audit_anchor, "utcnow", lambda: datetime.now(UTC) - timedelta(hours=1))
    old = _anchor()
    monkeypatch.undo()
    body = admin.get("/admin/audit").get_data(as_text=True)
    assert f"nothing has been anchored outside the database since {old.at}: is the scheduler running?" in body
    path = anchor_path(app)
    path.write_text(path.read_text() + json.dumps(dict(_lines(app)[-1], hash="0" * 64)) + "\n")
    body = admin.get("/admin/audit").get_data(as_text=True)
    assert "The audit anchor file fails its check:" in body and "does not match its MAC" in body
