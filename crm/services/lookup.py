"""Finding contacts through blind indexes only, then dropping false positives.

A token is a truncated HMAC, so a lookup first returns *candidates* (the real
matches plus a few collisions); each candidate is decrypted and its normalised
value compared with the query's. No plaintext column exists, and nothing
decrypts the whole table.
"""
import math
from datetime import UTC, datetime

from sqlalchemy import and_, intersect, or_, select, tuple_

from ..extensions import db
from ..models import Contact, ContactIndex
from ..models.bulk import among
from ..security import blind_index, normalize
from ..security.crypto import crypto
from . import match_keys


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
    """The contacts of ``ids`` as ORM objects, in the order of ``ids``."""
    if not ids:
        return []
    query = select(Contact).where(among(db.session, Contact.id, ids))
    loaded = {c.id: c for c in db.session.execute(query).scalars()}
    return [loaded[i] for i in ids if i in loaded]


def _plain(ids, attribute, where=None):
    """{id: decrypted ``attribute``} of ``ids`` (narrowed by the clause ``where``), read as one ciphertext column.

    Most candidates are blind-index collisions: they are dropped on this one value,
    without building a ``Contact`` or decrypting anything else. A value that will not
    decrypt reads as None (it matches nothing) and is audited at commit.
    """
    sealed = match_keys.load_sealed(db.session, ids, where, fields=(attribute,))
    return {contact_id: getattr(contact, attribute) for contact_id, contact in sealed.items()}


def find(spec, raw, where=None):
    """Contacts whose value for ``spec`` really matches ``raw`` (collisions dropped).

    ``where`` (a clause on ``Contact``) narrows the candidates in SQL before any decryption.
    """
    indexer = crypto().indexer
    wanted = indexer.normalized_values(spec, raw)
    if not wanted:
        return []
    attribute = {"email": "email", "phone": "phone", "messenger": "messenger",
                 "name_word": "full_name"}[spec.name]
    values = _plain(candidate_ids(spec, raw), attribute, where)
    matching = [i for i, value in values.items()
                if value is not None and indexer.normalized_values(spec, value) & wanted]
    return sorted(_load(matching), key=created_order)


def find_by_email(raw, where=None):
    return find(blind_index.EMAIL, raw, where)


def find_by_phone(raw):
    return find(blind_index.PHONE, raw)


def find_by_messenger(raw):
    return find(blind_index.MESSENGER, raw)


def find_by_name_word(word):
    """Contacts with a name word equal to ``word`` (folded, any transliteration)."""
    return find(blind_index.NAME_WORD, word)


def name_chunk(wanted):
    """Candidates to read for ``wanted`` more matches: room for collisions on top.

    A common name's candidates are mostly real matches at 1,000,000 contacts, so
    one round almost always fills the page; a rare name's are mostly collisions
    (a 14-bit name token holds a few hundred of them, decision 0003), and the next
    round reads what the first round's share of real matches says is needed.
    """
    return wanted + wanted // 4 + 8


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
    holds_every_word = _NameMatcher(words)
    chunk, read = name_chunk(limit), 0
    found, after = [], None
    while len(found) < limit:
        page = candidates if after is None else candidates.where(tuple_(created, contact_id) < after)
        rows = db.session.execute(page if chunk is None else page.limit(chunk)).all()
        if not rows:
            break
        read += len(rows)
        after = (rows[-1].contact_created_at, rows[-1].contact_id)
        names = _plain([row.contact_id for row in rows], "full_name")
        found.extend(row.contact_id for row in rows if holds_every_word(names.get(row.contact_id)))
        if chunk is None or len(rows) < chunk:
            break
        # Collisions spread evenly over time: the share of real matches so far tells how many
        # more candidates fill the page (none so far: a rare name, read the rest at once).
        share = len(found) / read
        chunk = name_chunk(math.ceil((limit - len(found)) / share)) if share else None
    return _load(found[:limit])


class _NameMatcher:
    """Whether a decrypted name holds every query word, in any spelling the index knows.

    Namesakes share words, so each word's spellings are worked out once per search.
    """

    def __init__(self, words):
        self._spellings = {}
        self._wanted = [self._variants(word) for word in words]

    def _variants(self, word):
        variants = self._spellings.get(word)
        if variants is None:
            variants = self._spellings[word] = normalize.name_word_variants(word)
        return variants

    def __call__(self, name):
        if not name:
            return False
        held = set()
        for word in normalize.name_words(name):
            held |= self._variants(word)
        return all(held & wanted for wanted in self._wanted)
