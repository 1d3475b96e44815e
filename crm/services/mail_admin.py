"""The admin mail page: the Outbox (and the development file outbox), one message, a resend.

The list shows metadata only (kind, template, language, status, attempts, the
error code); opening one message decrypts its recipient and bodies, so that is
audited like any view of a person's details.
"""
import os
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from ..errors import NotFound
from ..extensions import db
from ..models import Outbox
from ..security import audit
from . import mail
from .mail_delivery import reset_for_resend

PAGE_SIZE = 50


@dataclass(frozen=True)
class OutboxPage:
    rows: list
    counts: dict
    page: int
    pages: int
    files: set


def outbox_folder():
    return os.path.join(current_app.config["INSTANCE_DIR"], "outbox")


def dev_files():
    """Outbox ids that have a .eml file under instance/outbox/ (the file backend)."""
    try:
        names = os.listdir(outbox_folder())
    except FileNotFoundError:
        return set()
    return {name[:-4] for name in names if name.endswith(".eml")}


def list_outbox(status=None, page=1):
    query = select(Outbox).order_by(Outbox.created_at.desc(), Outbox.id)
    if status:
        query = query.where(Outbox.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    counts = dict(db.session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
    return OutboxPage(rows, counts, page, pages, dev_files())


@dataclass(frozen=True)
class Message:
    row: Outbox
    recipient: str
    subject: str
    text: str
    html: str
    eml_file: bool


def open_message(outbox_id):
    """One message, decrypted for an admin: audited (ids only in the event)."""
    row = db.session.get(Outbox, outbox_id)
    if row is None:
        raise NotFound()
    audit.record("outbox.view", "outbox", row.id, kind=row.kind)
    return Message(row, str(row.recipient or ""), str(row.subject or ""), str(row.body or ""),
                   str(row.html or ""), str(row.id) in dev_files())


def resend(outbox_id):
    """Send a failed message again (same Message-ID); audited. Commits, then queues."""
    row = db.session.get(Outbox, outbox_id)
    if row is None:
        raise NotFound()
    if not reset_for_resend(row.id):
        return False
    audit.record("outbox.resend", "outbox", row.id, kind=row.kind)
    mail.enqueue_send(row.id)
    return True


def send_test(address, locale):
    """Queue the neutral test message to ``address`` (checks the mail settings end to end)."""
    reference = uuid.uuid4().hex[:12]
    outbox_id = mail.queue_mail(key=f"system-test:{reference}", kind="system.test", to=address,
                                template="system/test_message", locale=locale, exempt="system_test",
                                context={"reference": reference})
    audit.record("outbox.test", "outbox", outbox_id)
    return reference
