"""Erasing a person (GDPR art. 17): every value, index and trace, leaving anonymous counts.

``request_erasure`` withdraws consent at once, closes their link sessions, marks
the contact and queues ``workers.jobs.erase_contact``. ``erase`` (the job body,
also run by ``flask crm erase``) then deletes, in one transaction:

- every row that points at the contact (path choices and their history, index
  tokens, notes, follow-ups and their outcomes, attendance, triage state, links,
  found from the foreign keys, so a table added later is covered; and the merge
  records and undo snapshots that name it, which have no foreign key);
- the contact row itself;
- messages in the outbox and pending data-rights requests addressed to them
  (their recipient is encrypted and unindexed, so those small tables are
  decrypted row by row and compared), and unconfirmed self-registrations with
  their email or phone (found through their blind-index tokens);
- the client address of audit events about them (the chain covers only its digest).

What remains is ``ErasureCounter`` rows (how many erased people came from each
source, took each path to each stage, attended each meeting) and one audit event
``contact.erased`` whose target is the erasure's own random id, with no personal data.
Redis is cleaned by ``crm.services.erasure_redis`` in the same job.
"""
import logging
import unicodedata
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.orm import load_only

from ..errors import NotFound
from ..extensions import db
from ..jobs import enqueue
from ..models import (
    Attendance,
    AuditEvent,
    Contact,
    ContactIndex,
    ErasureCounter,
    ErasureRequest,
    Outbox,
    PathChoice,
    PendingRegistration,
    RightsLink,
    RightsRequest,
)
from ..models.base import utcnow
from ..security import audit, blind_index, normalize
from ..security.crypto import crypto
from . import merge
from .rights import erasure_job_id

log = logging.getLogger(__name__)


def request_erasure(contact, via):
    """Withdraw consent, close link sessions and queue the erasure (idempotent)."""
    existing = db.session.execute(
        select(ErasureRequest).where(ErasureRequest.contact_id == contact.id)).scalar_one_or_none()
    if existing is not None:
        return existing
    erasure = ErasureRequest(id=uuid.uuid4(), contact_id=contact.id, via=via)
    db.session.add(erasure)
    contact.consent_at = None
    contact.consent_version = None
    db.session.execute(update(RightsLink).where(RightsLink.contact_id == contact.id)
                       .values(session_until=utcnow()))
    db.session.flush()
    audit.record("contact.erasure_requested", "contact", contact.id, erasure=str(erasure.id), via=via)
    enqueue("workers.jobs.erase_contact", contact.id, job_id=erasure_job_id(contact.id))
    return erasure


def pending_erasures():
    """Contact ids with a queued erasure (the reconciler queues them again if Redis lost them)."""
    return list(db.session.scalars(select(ErasureRequest.contact_id)))


def _count(scope, key):
    row = db.session.get(ErasureCounter, (scope, key))
    if row is None:
        db.session.add(ErasureCounter(scope=scope, key=key, count=1))
    else:
        row.count += 1


def _keep_counts(contact):
    _count("total", "all")
    _count("source", contact.source)
    for choice in db.session.scalars(select(PathChoice).where(PathChoice.contact_id == contact.id)):
        _count("path_stage", f"{choice.path}:{choice.stage}")
    for meeting_id in db.session.scalars(select(Attendance.meeting_id).where(Attendance.contact_id == contact.id)):
        _count("meeting", str(meeting_id))
    _count("month", utcnow().strftime("%Y-%m"))


def _referencing_columns():
    """(table, column) for every foreign key that points at contact.id."""
    found = []
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "contact" and fk.column.name == "id" and table.name != "contact":
                found.append((table, fk.parent))
    return found


def _delete_dependants(contact_id):
    # Children of children first (stage history hangs off path choices), then the rest.
    for table, column in reversed(_referencing_columns()):
        for child_table, child_column in _children_of(table):
            parent_ids = select(table.c.id).where(column == contact_id)
            db.session.execute(delete(child_table).where(child_column.in_(parent_ids)))
        db.session.execute(delete(table).where(column == contact_id))


def _children_of(table):
    if "id" not in table.c:
        return []
    return [(child, fk.parent) for child in db.metadata.sorted_tables for fk in child.foreign_keys
            if fk.column is table.c.id and child.name != "contact"
            and not any(f.column.table.name == "contact" for f in child.foreign_keys)]


def _matching_rows(model, attribute, wanted):
    """Rows of a small table whose encrypted address normalises to ``wanted``."""
    if not wanted:
        return []
    # Only the id and the one ciphertext: the bodies are never loaded, let alone decrypted.
    column = getattr(model, attribute).column_attr
    rows = db.session.scalars(select(model).options(load_only(model.id, getattr(model, column))))
    local = wanted.rsplit("@", 1)[0]
    return [row for row in rows if isinstance(getattr(row, attribute), str)
            and _may_be(getattr(row, attribute), local)
            and normalize.normalize_email(getattr(row, attribute)) == wanted]


def _may_be(raw, local):
    """Cheap test before the full (slow) normalisation: could ``raw`` have this local part?"""
    return "\\" in raw or local in unicodedata.normalize("NFC", raw).casefold()


def _pending_registrations(email, phone):
    """Unconfirmed self-registrations with the person's email or phone (exact match)."""
    from . import registration

    found = {row.id: row for row in (registration.find_pending_by_email(email) if email else [])}
    if isinstance(phone, str):
        indexer = crypto().indexer
        wanted = indexer.normalized_values(blind_index.PHONE, phone)
        for key_id in indexer.keyring.ids():
            tokens = indexer.tokens(blind_index.PHONE, phone, key_id)
            rows = db.session.scalars(select(PendingRegistration).where(
                PendingRegistration.index_key_id == key_id, PendingRegistration.phone_token.in_(tokens)))
            found.update({row.id: row for row in rows if isinstance(row.phone, str)
                          and indexer.normalized_values(blind_index.PHONE, row.phone) & wanted})
    return list(found.values())


def erase(contact_id, via="cli"):
    """Delete everything about one contact; returns what Redis cleaning needs, or None.

    Idempotent: a contact already gone returns None. Flushes only; the caller commits.
    """
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        return None
    erasure = db.session.execute(
        select(ErasureRequest).where(ErasureRequest.contact_id == contact.id)).scalar_one_or_none()
    erasure_id = erasure.id if erasure else uuid.uuid4()
    via = erasure.via if erasure else via
    email = contact.email if isinstance(contact.email, str) else None
    wanted = normalize.normalize_email(email) if email else None
    tokens = [tuple(row) for row in db.session.execute(
        select(ContactIndex.field, ContactIndex.key_id, ContactIndex.token)
        .where(ContactIndex.contact_id == contact.id))]
    _keep_counts(contact)
    outbox = _matching_rows(Outbox, "recipient", wanted)
    requests = _matching_rows(RightsRequest, "email", wanted)
    pending = _pending_registrations(email, contact.phone)
    tokens += [(field, row.index_key_id, getattr(row, column)) for row in pending
               for field, column in (("email", "email_token"), ("phone", "phone_token"))
               if getattr(row, column) is not None]
    related_ids = {str(contact.id), *(str(r.id) for r in (*outbox, *requests, *pending))}
    related_ids.update(str(i) for i in db.session.scalars(
        select(RightsLink.id).where(RightsLink.contact_id == contact.id)))
    for row in (*outbox, *requests, *pending):
        db.session.delete(row)
    db.session.flush()
    _delete_dependants(contact.id)
    merge.forget_contact(contact.id)  # undo snapshots name it without a foreign key
    db.session.execute(delete(Contact).where(Contact.id == contact.id))
    db.session.expunge_all()  # the ORM copies of deleted rows must not be flushed again
    db.session.execute(update(AuditEvent).where(
        AuditEvent.target_type == "contact", AuditEvent.target_id == str(contact_id)).values(ip=None))
    audit.record("contact.erased", "erasure", erasure_id, via=via)
    db.session.flush()
    log.info("erasure %s done", erasure_id)
    return {"erasure_id": erasure_id, "tokens": tokens, "related_ids": related_ids}


def erase_now(contact_id, via):
    """Erase at once (the CLI); raises NotFound for an unknown id."""
    result = erase(contact_id, via=via)
    if result is None:
        raise NotFound("no contact with that id (already erased?)")
    return result
