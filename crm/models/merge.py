"""Duplicate merges (undoable for a while) and pairs dismissed as "not the same person"."""
import uuid

from sqlalchemy import DateTime, ForeignKey, Index, SmallInteger, UniqueConstraint, Uuid, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import BigIntPK, utcnow, uuid_pk


class ContactMerge(db.Model):
    """One contact merged into another.

    The merged-away contact row is deleted; ``merged_id`` keeps its id so that
    old links redirect to the survivor. ``snapshot`` (sealed with the field
    cipher, bound to this row) holds what an undo needs: the merged contact's
    values and metadata, which rows moved, and the survivor's values before.
    It is erased when the undo window closes; the redirect (ids only) stays.
    """

    __tablename__ = "contact_merge"
    __table_args__ = (Index("ix_contact_merge_merged", "merged_id", "undone_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    # No foreign keys to contact: the merged row is gone, and a survivor merged again
    # later must not take this record (and the redirect) with it.
    survivor_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    merged_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    undo_until = mapped_column(DateTime(timezone=True), index=True)
    undone_at = mapped_column(DateTime(timezone=True))
    undone_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    snapshot_ct = ciphertext_column()
    snapshot = Encrypted()

    def __init__(self, **kwargs):
        # The id must exist before the snapshot is sealed: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)


class DuplicateDismissal(db.Model):
    """A candidate pair a coordinator said is not the same person (``low_id`` < ``high_id``)."""

    __tablename__ = "duplicate_dismissal"
    __table_args__ = (UniqueConstraint("low_id", "high_id", name="uq_duplicate_dismissal_pair"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    low_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    high_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    dismissed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)


class DuplicateCandidate(db.Model):
    """A pair of contacts that share a blind-index token (ids and kinds only, nothing personal).

    Recorded for the contacts a transaction wrote, before it commits (the hooks
    below, ``crm.services.duplicate_pairs``); rebuilt as a whole by
    ``duplicates.refresh_candidates`` (a job, by cron and on demand) as a repair.
    Only confirmed pairs are kept; the page re-checks the pairs it shows.
    """

    __tablename__ = "duplicate_candidate"
    __table_args__ = (Index("ix_duplicate_candidate_order", "strength", "low_id", "high_id"),)

    low_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True)
    high_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True,
                                               index=True)
    by_email: Mapped[bool] = mapped_column(default=False)
    by_phone: Mapped[bool] = mapped_column(default=False)
    by_name: Mapped[bool] = mapped_column(default=False)
    strength: Mapped[int] = mapped_column(SmallInteger, default=1)
    found_at = mapped_column(DateTime(timezone=True), default=utcnow)


# -- pairs recorded as contacts are written (crm/services/duplicate_pairs.py) -----------------

_WATCHED = ("email", "phone", "full_name", "city")  # the values duplicate pairs are found by
NOTED_CONTACTS = "muster_duplicate_contacts"  # session.info: ids whose pairs are due at commit


def _values_changed(contact):
    """True when a flush wrote a new contact or another email, phone, name or city.

    A key rotation rewrites every ciphertext without changing a value: the old and
    new ciphertexts are decrypted and compared, so a rotation records nothing.
    """
    from ..security.cipher import DecryptionError
    from ..security.crypto import crypto

    state = inspect(contact)
    for name in _WATCHED:
        history = state.attrs[f"{name}_ct"].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old is None or new is None:
            if old is not new:
                return True
            continue
        try:
            cipher = crypto().cipher
            if cipher.decrypt("contact", name, contact.id, old) != cipher.decrypt("contact", name, contact.id, new):
                return True
        except DecryptionError:
            return True
    return False


@event.listens_for(Session, "after_flush")
def _note_written_contacts(session, flush_context):
    from .contact import Contact

    ids = [obj.id for obj in session.new if isinstance(obj, Contact)]
    ids += [obj.id for obj in session.dirty if isinstance(obj, Contact) and _values_changed(obj)]
    if ids:
        session.info.setdefault(NOTED_CONTACTS, set()).update(ids)


@event.listens_for(Session, "before_commit")
def _record_duplicate_pairs(session):
    from ..services import duplicate_pairs  # the services import the models

    if session.new or session.dirty:
        session.flush()  # commit flushes after this hook: the flush's contacts must be noted first
    duplicate_pairs.record_noted(session)


@event.listens_for(Session, "after_rollback")
def _forget_written_contacts(session):
    session.info.pop(NOTED_CONTACTS, None)
