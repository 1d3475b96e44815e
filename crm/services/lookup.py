"""Finding contacts through blind indexes only, then dropping false positives.

A token is a truncated HMAC, so a lookup first returns *candidates* (the real
matches plus a few collisions); each candidate is decrypted and its normalised
value compared with the query's. No plaintext column exists, and nothing
decrypts the whole table.
"""
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select

from ..extensions import db
from ..models import Contact, ContactIndex
from ..security import blind_index, normalize
from ..security.crypto import crypto
from ..security.fields import UNREADABLE


def created_order(contact):
    """Sort key by creation time: SQLite hands back naive UTC, new objects hold aware times."""
    at = contact.created_at
    if at is None:
        return datetime.max.replace(tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def candidate_ids(spec, raw, limit=500):
    """Ids of contacts whose index for ``spec`` holds a token of ``raw`` under any live key."""
    indexer = crypto().indexer
    clauses = []
    for key_id in indexer.keyring.ids():
        tokens = indexer.tokens(spec, raw, key_id)
        if tokens:
            clauses.append(and_(ContactIndex.key_id == key_id, ContactIndex.token.in_(tokens)))
    if not clauses:
        return []
    query = (
        select(ContactIndex.contact_id)
        .where(ContactIndex.field == spec.name, or_(*clauses))
        .distinct()
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def _load(ids):
    if not ids:
        return []
    return list(db.session.execute(select(Contact).where(Contact.id.in_(ids))).scalars())


def _matches(spec, contact_value, wanted, indexer):
    if contact_value is None or contact_value is UNREADABLE:
        return False
    return bool(indexer.normalized_values(spec, contact_value) & wanted)


def find(spec, raw):
    """Contacts whose value for ``spec`` really matches ``raw`` (collisions dropped)."""
    indexer = crypto().indexer
    wanted = indexer.normalized_values(spec, raw)
    if not wanted:
        return []
    attribute = {"email": "email", "phone": "phone", "messenger": "messenger",
                 "name_word": "full_name"}[spec.name]
    found = [c for c in _load(candidate_ids(spec, raw))
             if _matches(spec, getattr(c, attribute), wanted, indexer)]
    return sorted(found, key=created_order)


def find_by_email(raw):
    return find(blind_index.EMAIL, raw)


def find_by_phone(raw):
    return find(blind_index.PHONE, raw)


def find_by_messenger(raw):
    return find(blind_index.MESSENGER, raw)


def find_by_name_word(word):
    """Contacts with a name word equal to ``word`` (folded, any transliteration)."""
    return find(blind_index.NAME_WORD, word)


def find_by_name(full_name):
    """Contacts that share every word of ``full_name`` (in any order)."""
    words = normalize.name_words(full_name)
    if not words:
        return []
    matches = None
    for word in words:
        ids = {c.id for c in find_by_name_word(word)}
        matches = ids if matches is None else matches & ids
        if not matches:
            return []
    return sorted(_load(matches), key=created_order)
