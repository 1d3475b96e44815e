"""Comparing candidate contacts cheaply: sealed rows decrypted on demand, cheap normal forms.

Matching (imports, duplicate pairs) decrypts the contacts that share a truncated
blind-index token with a new value and compares normalised values. At 100,000
contacts each token has about six colliding holders (0003); running every one of
them through email_validator or phonenumbers again cost more than the row itself.
Stored values were validated on the way in, so their normal forms are cheap.
"""
import re

from sqlalchemy import select

from ..models import Contact
from ..models.bulk import among, core_rows
from ..security import normalize
from ..security.cipher import DecryptionError
from ..security.crypto import crypto

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def email_key(raw):
    """A stored email in normalised form; plain ASCII skips email_validator.

    For an ASCII address the normal form is the address case-folded (the domain is
    lower-cased, the local part case-folded), exactly what ``normalize_email`` gives.
    """
    value = raw.strip()
    if value.isascii() and '"' not in value and "\\" not in value:
        return value.casefold()
    return normalize.normalize_email(value)


def phone_key(raw, region):
    """A stored phone in E.164; a value already in E.164 (what imports and capture store) as is."""
    value = raw.strip()
    return value if _E164.fullmatch(value) else normalize.normalize_phone(value, region)


class SealedContact:
    """A contact's id, creation time and ciphertexts; ``email``, ``phone``, ``messenger``,
    ``full_name`` and ``city`` are decrypted when first read, at most once.

    Candidates are mostly collisions of a truncated token: building ORM objects with
    their paths, or decrypting every field, for each of them cost more than the match.
    A value that will not decrypt reads as None (it matches nothing) and is audited
    at commit like any other (``crm.security.fields``).
    """

    __slots__ = ("id", "created_at", "_blobs", "_plain", "_session")
    FIELDS = ("email", "phone", "messenger", "full_name", "city")
    MATCHED = ("email", "phone", "full_name", "city")  # what matching reads unless told

    def __init__(self, session, contact_id, created_at, blobs, fields=FIELDS):
        self._session, self.id, self.created_at = session, contact_id, created_at
        self._blobs, self._plain = dict(zip(fields, blobs)), {}

    def add(self, name, blob):
        """Another field's ciphertext, read with the contact elsewhere."""
        self._blobs.setdefault(name, blob)

    def __getattr__(self, name):
        if name not in SealedContact.FIELDS:
            raise AttributeError(name)
        if name not in self._blobs:
            raise LookupError(f"{name} was not loaded (load_sealed fields=...)")
        if name not in self._plain:
            blob = self._blobs[name]
            try:
                self._plain[name] = None if blob is None else crypto().cipher.decrypt(
                    Contact.__tablename__, name, self.id, blob)
            except DecryptionError as exc:
                self._session.info.setdefault("unreadable", []).append(
                    (Contact.__tablename__, str(self.id), name, str(exc)))
                self._plain[name] = None
        return self._plain[name]


def load_sealed(session, ids, where=None, chunk=2000, fields=SealedContact.MATCHED):
    """{id: SealedContact} of the contacts among ``ids`` (narrowed by the clause ``where``).

    Only the ciphertexts of ``fields`` are read (most candidates are compared by email or
    phone alone); reading another field of the result is a programming error (LookupError).
    """
    found = {}
    ids = list(ids)
    fields = tuple(fields)
    columns = [getattr(Contact, f"{name}_ct") for name in fields]
    for start in range(0, len(ids), chunk):
        query = select(Contact.id, Contact.created_at, *columns).where(
            among(session, Contact.id, ids[start:start + chunk]))
        if where is not None:
            query = query.where(where)
        for contact_id, created_at, *blobs in core_rows(session, query):
            found[contact_id] = SealedContact(session, contact_id, created_at, blobs, fields)
    return found
