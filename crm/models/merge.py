"""Duplicate merges (undoable for a while) and pairs dismissed as "not the same person"."""
import uuid

from sqlalchemy import DateTime, ForeignKey, Index, SmallInteger, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

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

    Refreshed as a whole by ``duplicates.refresh_candidates`` (a job, by cron and on
    demand): the self-join costs seconds at 100k contacts, too much for every page
    view. Shared tokens may be collisions; the page confirms the pairs it shows.
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
