"""The admin audit-log viewer: filters, pagination, read-only, and the chain still verifies."""
import re
import uuid
from datetime import UTC, datetime, timedelta

from crm.extensions import db
from crm.security import audit

EVENT_ROW = re.compile(r"<tr>\s*<td>(\d+)</td>")


def seed(actor_id, count, action="test.seen", start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC), target=None):
    """``count`` events, one a day from ``start``, by ``actor_id``."""
    token = audit.set_context(actor_id=actor_id, request_id="seed", ip="127.0.0.1")
    try:
        for n in range(count):
            event = audit.record(action, "contact", target or uuid.uuid4(), n=n)
            event.at = start + timedelta(days=n)
        db.session.commit()
    finally:
        audit.reset_context(token)


def shown_ids(response):
    assert response.status_code == 200, response.status_code
    return [int(i) for i in EVENT_ROW.findall(response.get_data(as_text=True))]


def test_filters_by_actor_action_target_and_dates(signed_in, make_user):
    admin = signed_in("admin")
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    target = uuid.uuid4()
    seed(alice.id, 3, action="contact.view", target=target)
    seed(bob.id, 4, action="contact.export")

    by_alice = shown_ids(admin.get(f"/admin/audit?actor={alice.id}"))
    assert len(by_alice) == 3
    assert len(shown_ids(admin.get("/admin/audit?action=contact.export"))) == 4
    assert len(shown_ids(admin.get("/admin/audit?action=contact."))) == 7  # a prefix
    assert len(shown_ids(admin.get("/admin/audit?action=contact_"))) == 0  # "_" is no wildcard
    assert shown_ids(admin.get(f"/admin/audit?target={target}")) == by_alice
    # Dates are whole UTC days, both ends included: 1-3 March holds 3 of bob's 4 days.
    assert len(shown_ids(admin.get(f"/admin/audit?actor={bob.id}&since=2026-03-01&until=2026-03-03"))) == 3
    assert len(shown_ids(admin.get(f"/admin/audit?actor={bob.id}&since=2026-03-04"))) == 1
    assert shown_ids(admin.get("/admin/audit?since=2030-01-01")) == []


def test_pages_of_fifty_newest_first(signed_in, make_user):
    admin = signed_in("admin")
    alice, _ = make_user("alice")
    seed(alice.id, 120)
    first = shown_ids(admin.get(f"/admin/audit?actor={alice.id}"))
    third = shown_ids(admin.get(f"/admin/audit?actor={alice.id}&page=3"))
    assert len(first) == 50 and len(third) == 20
    assert first == sorted(first, reverse=True) and min(first) > max(third)
    page = admin.get(f"/admin/audit?actor={alice.id}&page=2").get_data(as_text=True)
    assert "page=3" in page and "page=1" in page and f"actor={alice.id}" in page
    assert shown_ids(admin.get(f"/admin/audit?actor={alice.id}&page=99")) == third  # clamps to the last


def test_bad_filters_are_a_400_not_a_crash(signed_in):
    admin = signed_in("admin")
    for query in ("since=yesterday", "actor=not-a-user", f"actor={uuid.uuid4()}", "page=abc&action=" + "x" * 200):
        response = admin.get(f"/admin/audit?{query}")
        assert response.status_code in (200, 400), query
    assert admin.get("/admin/audit?since=yesterday").status_code == 400


def test_the_viewer_is_read_only(app, signed_in, runner):
    admin = signed_in("admin")
    [rule] = [r for r in app.url_map.iter_rules() if r.endpoint == "admin.audit"]
    assert rule.methods - {"HEAD", "OPTIONS"} == {"GET"}
    assert admin.post("/admin/audit").status_code == 405
    admin.get("/admin/audit")
    result = runner.invoke(args=["crm", "audit", "verify"])
    assert result.exit_code == 0 and "chain intact" in result.output


def test_reading_the_log_is_itself_audited(signed_in, make_user):
    from sqlalchemy import select

    from crm.models import AuditEvent

    admin = signed_in("admin")
    alice, _ = make_user("alice")
    seed(alice.id, 3, action="contact.view")
    shown = shown_ids(admin.get(f"/admin/audit?actor={alice.id}&action=contact.&since=2026-03-01"))
    db.session.expire_all()
    [viewed] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.view")).all()
    assert viewed.actor_id == admin.user.id
    assert viewed.details == {"filters": {"actor": str(alice.id), "action": "contact.", "since": "2026-03-01"},
                              "page": 1, "total": 3, "shown": shown}
    # The next look shows that look.
    assert viewed.id in shown_ids(admin.get("/admin/audit?action=audit."))


def test_only_admins_open_it(signed_in):
    for role in ("staff", "coordinator"):
        assert signed_in(role).get("/admin/audit").status_code == 403
    assert signed_in("admin").get("/admin/audit").status_code == 200
