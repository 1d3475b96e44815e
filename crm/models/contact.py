"""A person, their cooperation paths, and the blind-index rows that find them."""
import uuid

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    bindparam,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..extensions import db
from ..security import blind_index
from ..security.crypto import crypto
from ..security.fields import Encrypted, ciphertext_column
from .base import BigIntPK, one_of, utcnow, uuid_pk
from .enums import (
    CONTACT_SOURCES,
    CONTACT_STATUSES,
    PATHS,
    RETENTION_REASONS,
    SAFE_CHANNELS,
    STAGES,
    TRUST_LEVELS,
)


class Contact(db.Model):
    __tablename__ = "contact"
    __table_args__ = (
        one_of("source", CONTACT_SOURCES, "source"),
        one_of("status", CONTACT_STATUSES, "status"),
        one_of("trust_level", TRUST_LEVELS, "trust_level"),
        one_of("safe_channel", SAFE_CHANNELS, "safe_channel"),
        one_of("archive_reason", RETENTION_REASONS, "archive_reason"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    full_name_ct = ciphertext_column()
    email_ct = ciphertext_column()
    phone_ct = ciphertext_column()
    messenger_ct = ciphertext_column()
    city_ct = ciphertext_column()
    country_ct = ciphertext_column()
    notes_ct = ciphertext_column()
    skills_ct = ciphertext_column()
    languages_ct = ciphertext_column()
    safe_times_ct = ciphertext_column()
    availability_ct = ciphertext_column()

    full_name = Encrypted(index=blind_index.NAME_WORD)
    email = Encrypted(index=blind_index.EMAIL)
    phone = Encrypted(index=blind_index.PHONE)
    messenger = Encrypted(index=blind_index.MESSENGER)
    city = Encrypted()
    country = Encrypted()
    notes = Encrypted()
    skills = Encrypted()
    languages = Encrypted()
    safe_times = Encrypted()
    availability = Encrypted()

    source: Mapped[str] = mapped_column(String(16), default="meeting")
    status: Mapped[str] = mapped_column(String(16), default="new")  # leads ix_contact_queue
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    preferred_locale: Mapped[str | None] = mapped_column(String(8))
    consent_at = mapped_column(DateTime(timezone=True))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # True when the record is readable only with the restricted-path clearance: every path
    # restricted, a restricted path active, or relatives at risk at home
    # (permissions.needs_clearance). Derived data kept by crm.services.contacts
    # (update_clearance, refresh_visibility), so the permission filter is a column test.
    clearance_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Trust and safety (crm/services/trust.py, docs/decisions/0020-trust-and-safety.md).
    # "unverified" contacts are quarantined: only coordinators and admins see them.
    trust_level: Mapped[str] = mapped_column(String(16), nullable=False, default="met", index=True)
    vouched_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    vouched_by_contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"))
    vouched_at = mapped_column(DateTime(timezone=True))
    safe_channel: Mapped[str | None] = mapped_column(String(16))
    do_not_email: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    do_not_text: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    do_not_call: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Relatives at risk at home: the record is readable only with clearance (see permissions).
    relatives_at_risk: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Retention by stage (crm/services/retention.py, docs/decisions/0024-retention.md): an
    # archived contact is hidden from every list and page (permissions.contact_clause) until
    # the retention job erases it; ``archive_reason`` is the rule that archived it.
    archived_at = mapped_column(DateTime(timezone=True), index=True)
    archive_reason: Mapped[str | None] = mapped_column(String(16))

    __mapper_args__ = {"version_id_col": version_id}

    paths = relationship("PathChoice", back_populates="contact", cascade="all, delete-orphan",
                         order_by="PathChoice.path")
    index_entries = relationship("ContactIndex", cascade="all, delete-orphan", lazy="select")
    assignee = relationship("User", foreign_keys=[assignee_id])

    def __init__(self, **kwargs):
        # The id must exist before any Encrypted value: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        # So must the creation time: the index rows carry it as their sort key.
        self.created_at = kwargs.pop("created_at", None) or utcnow()
        super().__init__(**kwargs)

    def reindex(self, spec, value, key_id=None):
        """Replace this contact's index rows for ``spec`` with those of ``value``."""
        # In place rather than a new list: a new contact then costs no collection diff,
        # and loads nothing (a transient or pending object has no rows to load).
        entries = self.index_entries
        for entry in [e for e in entries if e.field == spec.name]:
            entries.remove(entry)
        entries.extend(ContactIndex(**row) for row in index_rows(None, spec, value, key_id,
                                                                 created_at=self.created_at))

    def path(self, name):
        return next((p for p in self.paths if p.path == name), None)

    def __repr__(self):
        return f"<Contact {self.id}>"


def index_rows(contact_id, spec, value, key_id=None, *, created_at):
    """The ContactIndex rows (as dicts) of one value: one per distinct token.

    ``created_at`` is the contact's creation time (the rows' sort key).
    ``Contact.reindex`` builds its ORM rows from these; bulk inserts use them as is.
    """
    if not value:
        return []
    indexer = crypto().indexer
    key_id = indexer.keyring.active_id if key_id is None else key_id
    rows = [{"field": spec.name, "key_id": key_id, "token": token, "contact_created_at": created_at}
            for token in sorted(indexer.tokens(spec, value, key_id))]
    if contact_id is not None:
        for row in rows:
            row["contact_id"] = contact_id
    return rows


class ContactIndex(db.Model):
    """One blind-index token of one contact (several per name, one per email).

    ``contact_created_at`` copies the contact's ``created_at`` (kept by the flush hook
    below and by the bulk path) so that a name search gets its newest candidates from
    the index alone, in order, without visiting every namesake's contact row
    (docs/decisions/0026-name-search-order.md).
    """

    __tablename__ = "contact_index"
    # The lookup reads the contacts of a token from the index alone (no heap visit per
    # row), newest first; a name of several words intersects those sets in the index.
    __table_args__ = (Index("ix_contact_index_lookup", "field", "token", "key_id",
                            "contact_created_at", "contact_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[int] = mapped_column(SmallInteger)
    token: Mapped[int] = mapped_column(Integer)
    contact_created_at = mapped_column(DateTime(timezone=True), nullable=False)


@event.listens_for(Session, "before_flush")
def _stamp_new_index_rows(session, flush_context, instances):
    """A new contact's index rows carry its creation time, even one set after its values."""
    for contact in session.new:
        if isinstance(contact, Contact):
            for entry in contact.index_entries:
                entry.contact_created_at = contact.created_at


@event.listens_for(Session, "after_flush")
def _restamp_index_rows(session, flush_context):
    """A stored contact whose ``created_at`` changed (a merge keeps the earliest) re-stamps its rows."""
    changed = [{"cid": contact.id, "created": contact.created_at}
               for contact in session.dirty
               if isinstance(contact, Contact) and inspect(contact).attrs.created_at.history.has_changes()]
    if changed:
        table = ContactIndex.__table__
        session.connection().execute(
            table.update().where(table.c.contact_id == bindparam("cid"))
            .values(contact_created_at=bindparam("created")), changed)


class PathChoice(db.Model):
    """A contact's chosen cooperation path and where they are on it."""

    __tablename__ = "path_choice"
    __table_args__ = (
        UniqueConstraint("contact_id", "path", name="uq_path_choice_contact_path"),
        one_of("path", PATHS, "path"),
        one_of("stage", STAGES, "stage"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Looked up through uq_path_choice_contact_path (contact_id leads it).
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(24))
    stage: Mapped[str] = mapped_column(String(16), default="interested", index=True)
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    contact = relationship("Contact", back_populates="paths")
    history = relationship("StageChange", back_populates="path_choice", cascade="all, delete-orphan",
                           order_by="StageChange.id")


class StageChange(db.Model):
    """One move of a path choice from a stage to another (append-only history)."""

    __tablename__ = "stage_change"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    path_choice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("path_choice.id", ondelete="CASCADE"), index=True
    )
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    at = mapped_column(DateTime(timezone=True), default=utcnow)
    by_rule: Mapped[bool] = mapped_column(Boolean, default=False)

    path_choice = relationship("PathChoice", back_populates="history")

