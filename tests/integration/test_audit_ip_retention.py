"""Client addresses in the audit log are kept for a limited time; the chain survives their removal."""
import hashlib
from datetime import timedelta

from sqlalchemy import select, update

from crm.extensions import db
from crm.models import AuditEvent
from crm.models.base import utcnow
from crm.security import audit
from workers.periodic import forget_audit_addresses


def _record(action, ip):
    token = audit.set_context(actor_id=None, request_id="req-test", ip=ip)
    try:
        audit.record(action, "test", "1")
        db.session.commit()
    finally:
        audit.reset_context(token)


def test_old_addresses_are_blanked_and_the_chain_still_verifies(app):
    _record("test.old", "198.51.100.7")
    _record("test.recent", "203.0.113.9")
    db.session.execute(update(AuditEvent).where(AuditEvent.action == "test.old")
                       .values(at=utcnow() - timedelta(days=app.config["AUDIT_IP_RETENTION_DAYS"] + 1)))
    db.session.commit()
    # Moving `at` back edits the row, so re-chain it as if it had been written then.
    rows = db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    prev = audit.GENESIS
    for row in rows:
        row.prev_hash = prev
        row.hash = prev = audit.compute_hash(prev, row)
    db.session.commit()

    result = forget_audit_addresses()

    assert result["blanked"] == 1
    db.session.expire_all()
    by_action = {e.action: e for e in db.session.execute(select(AuditEvent)).scalars()}
    assert by_action["test.old"].ip is None
    assert by_action["test.old"].ip_digest is not None
    assert by_action["test.recent"].ip == "203.0.113.9"
    assert audit.verify_chain().ok
    assert forget_audit_addresses()["blanked"] == 0


def test_address_digest_is_keyed_not_a_plain_hash(app):
    _record("test.digest", "192.0.2.44")
    event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "test.digest")).scalar_one()
    assert event.ip_digest != hashlib.sha256(b"192.0.2.44").hexdigest()
    assert len(event.ip_digest) == 64
