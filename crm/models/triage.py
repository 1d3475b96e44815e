"""Where a contact stands in the triage queue beyond its status: snoozed, or why not a fit."""
import uuid

from sqlalchemy import DateTime, ForeignKey, Index, String, and_
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import one_of, utcnow
from .contact import Contact, PathChoice

NOT_A_FIT_REASONS = ("duplicate", "unreachable", "not_interested", "unsuitable", "suspicious", "other")


class ContactTriage(db.Model):
    """At most one row per contact; absent means "never snoozed, no verdict"."""

    __tablename__ = "contact_triage"
    __table_args__ = (one_of("not_a_fit_reason", NOT_A_FIT_REASONS, "not_a_fit_reason"),)

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True
    )
    snoozed_until = mapped_column(DateTime(timezone=True), index=True)
    not_a_fit_reason: Mapped[str | None] = mapped_column(String(24))
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


# The triage queue reads "status = new, unassigned, oldest first" and counts it: with the id
# in the index PostgreSQL answers both from the index alone. Path and stage filters likewise.
# Declared here rather than in contact.py, to keep the contact model's module untouched.
Index("ix_contact_queue", Contact.status, Contact.assignee_id, Contact.created_at, Contact.id)
Index("ix_path_choice_queue", PathChoice.path, PathChoice.stage, PathChoice.contact_id)
# The default queue is "unassigned". ``assignee_id IS NULL`` is not an equality to the planner,
# so ix_contact_queue cannot give that queue in created order and every page sorted the whole
# queue (the deep pages paid most). This partial index gives it in order; the visibility flag
# (clearance_only, the whole rule in one column) rides along, so a coordinator without
# clearance skips hidden contacts on the index entry, without visiting the table. Archived
# contacts (retention) are hidden from every list: the predicate leaves them out, so the
# "archived_at IS NULL" of the permission filter is answered by the index too.
_UNASSIGNED = and_(Contact.assignee_id.is_(None), Contact.archived_at.is_(None))
Index("ix_contact_queue_unassigned", Contact.status, Contact.created_at, Contact.id,
      Contact.clearance_only, postgresql_where=_UNASSIGNED, sqlite_where=_UNASSIGNED)
