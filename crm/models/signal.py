"""Infiltration signals, the blocklist of blind-index tokens, and where registrations came from.

See docs/decisions/0022-infiltration-signals.md. Nothing here holds a readable
personal value: a signal's evidence is ids, counts and kinds; the blocklist holds
truncated blind-index tokens and no contact id; a registration's network is a
keyed HMAC, kept only as long as unconfirmed registrations are.
"""
import uuid

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import BigIntPK, one_of, utcnow, uuid_pk

SIGNAL_KINDS = ("shared_contact_detail", "ip_burst", "registration_spike", "blocklist_match", "staff_detail")
SIGNAL_STATUSES = ("open", "cleared", "confirmed")
# Open and confirmed flags stop every automatic merge; a cleared one no longer counts.
LIVE_STATUSES = ("open", "confirmed")
BLOCK_REASONS = ("hostile", "blocked", "declined")
BLOCK_FIELDS = ("email", "phone", "messenger", "name_word")


class Signal(db.Model):
    """One flag on one contact, with its evidence, until a coordinator clears or confirms it."""

    __tablename__ = "signal"
    __table_args__ = (
        one_of("kind", SIGNAL_KINDS, "kind"),
        one_of("status", SIGNAL_STATUSES, "status"),
        # One flag per contact, kind and cause: a job run again raises nothing new, and a
        # cleared flag stays cleared.
        UniqueConstraint("contact_id", "kind", "cause", name="uq_signal_contact_kind_cause"),
        Index("ix_signal_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    # What makes this flag distinct among the contact's flags of a kind (ids and kinds only).
    cause: Mapped[str] = mapped_column(String(120))
    evidence = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at = mapped_column(DateTime(timezone=True))
    note_ct = ciphertext_column()
    note = Encrypted()

    def __init__(self, **kwargs):
        # The id must exist before the note is sealed: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)

    def __repr__(self):
        return f"<Signal {self.kind} {self.status}>"


class BlockEntry(db.Model):
    """One blocked or declined person, as the blind-index tokens of their details only."""

    __tablename__ = "block_entry"
    __table_args__ = (one_of("reason", BLOCK_REASONS, "reason"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    reason: Mapped[str] = mapped_column(String(16))
    # How many name words the blocked name had: a name matches only when every one does.
    name_words: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    note_ct = ciphertext_column()
    note = Encrypted()

    def __init__(self, **kwargs):
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)


class BlockToken(db.Model):
    """One truncated blind-index token of a block entry (``word``: which name word, else 0)."""

    __tablename__ = "block_token"
    __table_args__ = (
        one_of("field", BLOCK_FIELDS, "field"),
        Index("ix_block_token_lookup", "field", "token", "key_id", "entry_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("block_entry.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[int] = mapped_column(SmallInteger)
    token: Mapped[int] = mapped_column(Integer)
    word: Mapped[int] = mapped_column(SmallInteger, default=0)


class RegistrationSource(db.Model):
    """The network a join form was sent from, as a keyed HMAC; purged with pending registrations."""

    __tablename__ = "registration_source"
    __table_args__ = (Index("ix_registration_source_network", "network", "key_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    pending_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # the pending row goes; no foreign key
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    network: Mapped[str | None] = mapped_column(String(32))
    network_kind: Mapped[str | None] = mapped_column(String(8))  # "ipv4/24" or "ipv6/64"
    key_id: Mapped[int | None] = mapped_column(SmallInteger)
    created_at = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
