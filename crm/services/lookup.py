"""Finding contacts through blind indexes only, then dropping false positives.

A token is a truncated HMAC, so a lookup first returns *candidates* (the real
matches plus a few collisions); each candidate is decrypted and its normalised
value compared with the query's. No plaintext column exists, and nothing
decrypts the whole table.
"""
from datetime import UTC, datetime

from sqlalchemy import and_, intersect, or_, select, tuple_

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


def name_chunk(limit):
    """Candidates read per round: the page plus room for the blind-index collisions.

    About one candidate in sixteen is a collision at 1,000,000 contacts (decision
    0003), so one round almost always finds ``limit`` real matches.
    """
    return limit + limit // 4 + 8


def find_by_name(full_name, limit=500, visible_to=None):
    """The newest ``limit`` contacts that share every word of ``full_name`` (in any order).

    Each word's contacts come from ``ix_contact_index_lookup`` alone, newest first
    (the index rows carry their contact's creation time), and are intersected there;
    only the newest candidates are loaded, decrypted and compared word by word, a
    round at a time until ``limit`` real matches are found. A common surname costs
    about ``limit`` decryptions, not one per namesake, and a rare one still finds
    every match behind the blind-index collisions. ``visible_to`` (a user) leaves out
    in SQL the contacts that user may not see, so they are neither decrypted nor
    counted against ``limit``. Newest first: the person met last week is the one a
    coordinator looks for (docs/decisions/0026-name-search-order.md).
    """
    words = normalize.name_words(full_name)
    if not words:
        return []
    per_word = []
    for word in words:
        clause = _token_clause(blind_index.NAME_WORD, word)
        if clause is None:
            return []
        per_word.append(select(ContactIndex.contact_id, ContactIndex.contact_created_at).where(clause))
    # A contact holding two spellings of one word has two rows: DISTINCT (or INTERSECT) makes one.
    holders = (per_word[0].distinct() if len(per_word) == 1 else intersect(*per_word)).subquery()
    created, contact_id = holders.c.contact_created_at, holders.c.contact_id
    candidates = select(contact_id, created).order_by(created.desc(), contact_id.desc())
    if visible_to is not None:
        from ..security import permissions

        candidates = candidates.join(Contact, Contact.id == contact_id).where(
            permissions.contact_clause(visible_to))
    indexer = crypto().indexer
    wanted = [indexer.normalized_values(blind_index.NAME_WORD, word) for word in words]
    chunk = name_chunk(limit)
    found, after = [], None
    while len(found) < limit:
        page = candidates if after is None else candidates.where(tuple_(created, contact_id) < after)
        rows = db.session.execute(page.limit(chunk)).all()
        if not rows:
            break
        after = (rows[-1].contact_created_at, rows[-1].contact_id)
        loaded = {contact.id: contact for contact in _load([row[0] for row in rows])}
        for contact in (loaded.get(row[0]) for row in rows):
            name = contact.full_name if contact is not None else None
            if name is None or name is UNREADABLE:
                continue
            tokens = indexer.normalized_values(blind_index.NAME_WORD, name)
            if all(tokens & variants for variants in wanted):
                found.append(contact)
        if len(rows) < chunk:
            break
    return found[:limit]
