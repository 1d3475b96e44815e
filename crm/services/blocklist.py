"""The blocklist: blocked and declined people as blind-index tokens only.

An entry is the set of truncated tokens (the same 14/16-bit HMACs as
``contact_index``, decision 0003) of a person's email, phone, messenger handle
and name words, under every live key; it holds no contact id and no value. A
token is shared by about one in 16,000 addresses, so a match is a reason to
look, not proof: the ``blocklist_match`` signal says which kinds matched and a
coordinator decides. Erasure keeps entries (decision 0022 says why).
"""
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from ..extensions import db
from ..models import BlockEntry, BlockToken
from ..security import blind_index, normalize
from ..security.crypto import crypto
from ..security.fields import UNREADABLE

REACH = (("email", blind_index.EMAIL), ("phone", blind_index.PHONE), ("messenger", blind_index.MESSENGER))


@dataclass(frozen=True)
class Details:
    """The readable details to turn into tokens (a contact's, or a registration's)."""

    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    messenger: str | None = None

    @classmethod
    def of(cls, obj):
        def plain(name):
            value = getattr(obj, name, None)
            return None if value is UNREADABLE else value

        return cls(plain("full_name"), plain("email"), plain("phone"), plain("messenger"))


def tokens_of(details):
    """{(field, key_id, token, word)} of ``details`` under every live key."""
    indexer = crypto().indexer
    found = set()
    for key_id in indexer.keyring.ids():
        for name, spec in REACH:
            value = getattr(details, name)
            for token in (indexer.tokens(spec, value, key_id) if value else ()):
                found.add((spec.name, key_id, token, 0))
        for word_number, word in enumerate(normalize.name_words(details.full_name or "")):
            for variant in normalize.name_word_variants(word):
                found.add((blind_index.NAME_WORD.name, key_id,
                           indexer.token(blind_index.NAME_WORD, variant, key_id), word_number))
    return found


def matches(details):
    """{entry: sorted kinds matched} of the entries ``details`` match.

    A reach field matches on one shared token; the name only when every word of
    the blocked name (two words at least) meets a token of the new name.
    """
    wanted = tokens_of(details)
    if not wanted:
        return {}
    by_field_key = defaultdict(set)
    for field, key_id, token, _word in wanted:
        by_field_key[(field, key_id)].add(token)
    clauses = [and_(BlockToken.field == field, BlockToken.key_id == key_id, BlockToken.token.in_(sorted(tokens)))
               for (field, key_id), tokens in by_field_key.items()]
    rows = db.session.execute(select(BlockToken.entry_id, BlockToken.field, BlockToken.word)
                              .where(or_(*clauses))).all()
    fields, words = defaultdict(set), defaultdict(set)
    for entry_id, field, word in rows:
        if field == blind_index.NAME_WORD.name:
            words[entry_id].add(word)
        else:
            fields[entry_id].add(field)
    if not rows:
        return {}
    entries = {e.id: e for e in db.session.scalars(
        select(BlockEntry).where(BlockEntry.id.in_(set(fields) | set(words))))}
    result = {}
    for entry_id, entry in entries.items():
        kinds = set(fields.get(entry_id, ()))
        if entry.name_words >= 2 and words.get(entry_id, set()) >= set(range(entry.name_words)):
            kinds.add("name")
        if kinds:
            result[entry] = sorted(kinds)
    return result


def add(details, reason, user=None, note=None):
    """Add an entry for ``details`` (idempotent: an entry of the same reason holding all of them is kept)."""
    tokens = tokens_of(details)
    if not tokens:
        return None
    name_words = len(normalize.name_words(details.full_name or ""))
    own_kinds = {field for field, *_ in tokens if field != blind_index.NAME_WORD.name}
    if name_words >= 2:
        own_kinds.add("name")
    for entry, kinds in matches(details).items():
        if entry.reason == reason and set(kinds) == own_kinds and entry.name_words == name_words:
            return entry
    entry = BlockEntry(reason=reason, name_words=name_words, created_by_id=user.id if user else None)
    if note:
        entry.note = note
    db.session.add(entry)
    db.session.flush()
    db.session.add_all(BlockToken(entry_id=entry.id, field=field, key_id=key_id, token=token, word=word)
                       for field, key_id, token, word in sorted(tokens))
    db.session.flush()
    return entry
