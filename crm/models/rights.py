"""People's own data rights: access links, erasure requests, and what erasure leaves behind.

``RightsRequest`` holds an address typed on the public "my data" page (encrypted)
only until a job has looked it up; the web request therefore does the same work
whether or not the address is known. ``RightsLink`` is the single-use link mailed
to a known person (only a hash of its token is stored). ``ErasureRequest`` marks a
contact whose erasure is queued, so the reconciler can queue it again if Redis
lost the job. ``ErasureCounter`` is all that remains of an erased person:
anonymous counts per scope (see docs/decisions/0013-data-rights.md).
"""
import uuid

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security.fields import Encrypted, ciphertext_column
from .base import one_of, utcnow, uuid_pk

ERASURE_VIAS = ("self", "admin", "cli")


class RightsRequest(db.Model):
    """An address someone asked a data-rights link for, until the lookup job has run."""

    __tablename__ = "rights_request"

    id: Mapped[uuid.UUID] = uuid_pk()
    email_ct = ciphertext_column()
    email = Encrypted()
    locale: Mapped[str] = mapped_column(String(8), default="en")
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)

    def __init__(self, **kwargs):
        # The id must exist before the address is encrypted: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)


class RightsLink(db.Model):
    """A mailed link to one person's data: single use, expiring, stored as a hash."""

    __tablename__ = "rights_link"

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at = mapped_column(DateTime(timezone=True))
    # Opening the link spends it and starts a short session bound to this browser.
    used_at = mapped_column(DateTime(timezone=True))
    session_until = mapped_column(DateTime(timezone=True))


class ErasureRequest(db.Model):
    """A contact whose erasure is queued; deleted with the contact."""

    __tablename__ = "erasure_request"
    __table_args__ = (one_of("via", ERASURE_VIAS, "via"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), unique=True
    )
    via: Mapped[str] = mapped_column(String(8))
    requested_at = mapped_column(DateTime(timezone=True), default=utcnow)


class ErasureCounter(db.Model):
    """How many erased people had a given property: no row is about one person."""

    __tablename__ = "erasure_counter"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
