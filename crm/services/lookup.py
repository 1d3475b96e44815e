"""Finding contacts through blind indexes only, then dropping false positives.

A token is a truncated HMAC, so a lookup first returns *candidates* (the real
matches plus a few collisions); each candidate is decrypted and its normalised
value compared with the query's. No plaintext column exists, and nothing
decrypts the whole table.
"""
from datetime import UTC, datetime

from sqlalchemy import and_, intersect, or_, select

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


def _token_clause(spec, raw):
    """WHERE clause for the index rows of ``raw`` under every live key (None if no token)."""
    indexer = crypto().indexer
    clauses = []
    for key_id in indexer.keyring.ids():
        tokens = indexer.tokens(spec, raw, key_id)
        if tokens:
            clauses.append(and_(ContactIndex.key_id == key_id, ContactIndex.token.in_(tokens)))
    if not clauses:
        return None
    return and_(ContactIndex.field == spec.name, or_(*clauses))


def candidate_ids(spec, raw, limit=500):
    """Ids of contacts whose index for ``spec`` holds a token of ``raw`` under any live key."""
    clause = _token_clause(spec, raw)
    if clause is None:
        return []
    query = select(ContactIndex.contact_id).where(clause).distinct().limit(limit)
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


NAME_CHUNK = 200


def find_by_name(full_name, limit=500, visible_to=None):
    """The oldest ``limit`` contacts that share every word of ``full_name`` (in any order).

    The words are intersected in SQL first, so a common given name does not
    fill the candidate list; only contacts holding a token of every word are
    decrypted and compared word by word. Candidates come oldest first in chunks
    and decrypting stops once ``limit`` real matches are found: a common surname
    costs about ``limit`` decryptions, not one per namesake, and a rare one still
    finds every match behind the blind-index collisions. ``visible_to`` (a user)
    leaves out in SQL the contacts that user may not see, so they are neither
    decrypted nor counted against ``limit``.
    """
    words = normalize.name_words(full_name)
    if not words:
        return []
    per_word = []
    for word in words:
        clause = _token_clause(blind_index.NAME_WORD, word)
        if clause is None:
            return []
        per_word.append(select(ContactIndex.contact_id).where(clause))
    # The contacts of each word come from ix_contact_index_lookup alone and are intersected
    # there; only the few holding every word are joined to contact for the order.
    holders = per_word[0] if len(per_word) == 1 else intersect(*per_word)
    candidates = select(Contact.id).where(Contact.id.in_(holders)).order_by(Contact.created_at, Contact.id)
    if visible_to is not None:
        from ..security import permissions

        candidates = permissions.visible_contacts(candidates, visible_to)
    indexer = crypto().indexer
    wanted = [indexer.normalized_values(blind_index.NAME_WORD, word) for word in words]
    found, offset = [], 0
    while len(found) < limit:
        ids = list(db.session.execute(candidates.offset(offset).limit(NAME_CHUNK)).scalars())
        offset += len(ids)
        loaded = {contact.id: contact for contact in _load(ids)}
        for contact in (loaded[i] for i in ids if i in loaded):
            name = contact.full_name
            if name is None or name is UNREADABLE:
                continue
            tokens = indexer.normalized_values(blind_index.NAME_WORD, name)
            if all(tokens & variants for variants in wanted):
                found.append(contact)
        if len(ids) < NAME_CHUNK:
            break
    return found[:limit]
