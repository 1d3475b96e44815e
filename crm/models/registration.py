"""A self-registration waiting for its double opt-in: everything encrypted, kept a few days.

Only a confirmed registration becomes a contact (``crm/services/registration.py``).
Until then every value the person typed is ciphertext, the confirmation token is
kept as its SHA-256 digest only, and the email and phone carry truncated blind
index tokens (the same truncated HMACs as ``contact_index``), so the data-rights
pages and erasure can find a person's pending registrations without plaintext.
"""
import uuid

from sqlalchemy import DateTime, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security import blind_index
from ..security.crypto import crypto
from ..security.fields import Encrypted, ciphertext_column
from .base import utcnow, uuid_pk

TOKEN_COLUMNS = {blind_index.EMAIL.name: "email_token", blind_index.PHONE.name: "phone_token"}


class PendingRegistration(db.Model):
    __tablename__ = "pending_registration"

    id: Mapped[uuid.UUID] = uuid_pk()
    full_name_ct = ciphertext_column()
    email_ct = ciphertext_column()
    phone_ct = ciphertext_column()
    messenger_ct = ciphertext_column()
    city_ct = ciphertext_column()
    country_ct = ciphertext_column()
    skills_ct = ciphertext_column()
    languages_ct = ciphertext_column()
    availability_ct = ciphertext_column()
    message_ct = ciphertext_column()
    paths_ct = ciphertext_column()
    locale_ct = ciphertext_column()

    full_name = Encrypted()
    email = Encrypted(index=blind_index.EMAIL)
    phone = Encrypted(index=blind_index.PHONE)
    messenger = Encrypted()
    city = Encrypted()
    country = Encrypted()
    skills = Encrypted()
    languages = Encrypted()
    availability = Encrypted()
    message = Encrypted()
    paths = Encrypted()  # the chosen path keys, comma-separated: which paths is sensitive too
    locale = Encrypted()

    email_token: Mapped[int | None] = mapped_column(Integer, index=True)
    phone_token: Mapped[int | None] = mapped_column(Integer, index=True)
    index_key_id: Mapped[int | None] = mapped_column(SmallInteger)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    consent_version: Mapped[str] = mapped_column(String(32))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    expires_at = mapped_column(DateTime(timezone=True), nullable=False)
    confirmed_at = mapped_column(DateTime(timezone=True), index=True)

    def __init__(self, **kwargs):
        # The id must exist before any Encrypted value: it is bound into the ciphertext.
        self.id = kwargs.pop("id", None) or uuid.uuid4()
        super().__init__(**kwargs)

    def reindex(self, spec, value, key_id=None):
        """Keep the email/phone token in step with the value (called by ``Encrypted``)."""
        indexer = crypto().indexer
        key_id = indexer.keyring.active_id if key_id is None else key_id
        tokens = sorted(indexer.tokens(spec, value, key_id)) if value else []
        setattr(self, TOKEN_COLUMNS[spec.name], tokens[0] if tokens else None)
        self.index_key_id = key_id

    @property
    def path_list(self):
        return tuple(p for p in (self.paths or "").split(",") if p)

    def __repr__(self):
        return f"<PendingRegistration {self.id}>"
