"""Candidate duplicate pairs recorded when contacts are written, and rebuilt in full by a job.

``record_for(session, ids)`` finds the pairs of the given contacts through the
blind indexes (a shared email or phone token; every name token of one inside the
other's, through a token no more than ``NAME_BUCKET_CAP`` contacts share),
decrypts both sides once, keeps the pairs that really hold (``duplicates.confirm``)
and replaces those contacts' rows in ``duplicate_candidate``. It runs before the
commit of any transaction that created a contact or changed its email, phone,
name or city (the ``crm.models.merge`` session hooks: capture, join confirmation,
edit, merge and undo, corrections), and for the contacts an import batch created
(``note``): the duplicates page shows them at once, no refresh needed. The contacts an
import batch created are the exception: ``record_import_batch`` records their pairs in a
job of their own (``IMPORT_PAIRS_JOB``, ids and record numbers only), shortly after the
batch commits; the refresh job repairs the pairs of a job that was lost (decision 0025).

``rebuild(session)`` is the repair: it decrypts every contact's email and phone
once and groups equal normal forms in memory (under a random key of the run, so
the process holds digests, not addresses), then confirms the name pairs the
rarest-token SQL join proposes. Its cost is one decryption per contact, not two
per pair sharing a truncated token (about 650,000 pairs at 100,000 contacts).
Only ids and kinds are stored, never a value or anything derived from one.
"""
import hashlib
import hmac
import itertools
import os
from collections import defaultdict

from sqlalchemy import and_, delete, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from ..models import Contact, ContactIndex
from ..models.base import utcnow
from ..models.imports import ImportRow
from ..models.merge import NOTED_CONTACTS, DuplicateCandidate
from ..security import blind_index, normalize
from ..security.cipher import DecryptionError
from ..security.crypto import crypto
from ..security.fields import UNREADABLE
from .match_keys import SealedContact, email_key, load_sealed, phone_key

CHUNK = 500
# A name whose rarest word (token) more than this many contacts share is "common":
# pairing on it would compare it with all of them (email and phone still pair such people).
NAME_BUCKET_CAP = 50
IMPORT_PAIRS_JOB = "workers.jobs.record_import_pairs"


def note(session, contact_ids):
    """Record the pairs of ``contact_ids`` when ``session`` commits (rows written without the ORM)."""
    session.info.setdefault(NOTED_CONTACTS, set()).update(contact_ids)


def record_noted(session):
    """The before-commit hook: record the pairs of the contacts noted in this transaction."""
    ids = session.info.pop(NOTED_CONTACTS, None)
    if ids:
        record_for(session, ids)


def record_import_batch(session, import_id, first_record, last_record):
    """Record the pairs of the contacts an import batch created (its job); return how many.

    Contacts the batch merged into were changed through the ORM: the session hook
    recorded theirs when the batch committed.
    """
    ids = list(session.scalars(select(ImportRow.contact_id).where(
        ImportRow.import_id == import_id, ImportRow.record >= first_record, ImportRow.record <= last_record,
        ImportRow.outcome == "created", ImportRow.contact_id.is_not(None))))
    return {"contacts": len(ids), "pairs": record_for(session, ids) if ids else 0}


# -- the pairs of some contacts ---------------------------------------------------------------

def _tokens_of(session, ids, fields):
    """{contact id: {(field, key_id, token)}} of index rows of ``fields``, read by contact id.

    No condition on ``field`` in SQL: SQLite would then walk the lookup index's whole
    range for that field instead of the contact_id index.
    """
    tokens = defaultdict(set)
    ci = ContactIndex
    for start in range(0, len(ids), CHUNK):
        for contact_id, field, key_id, token in session.execute(
                select(ci.contact_id, ci.field, ci.key_id, ci.token).where(ci.contact_id.in_(ids[start:start + CHUNK]))):
            if field in fields:
                tokens[contact_id].add((field, key_id, token))
    return tokens


def _reach_pairs(session, ids):
    """({(low, high): {"email"|"phone"}}, {id: SealedContact}) for ``ids`` sharing an email or phone
    token with anyone; the holders come with the ciphertext of that field (index joined to contact)."""
    mine = _tokens_of(session, ids, (blind_index.EMAIL.name, blind_index.PHONE.name))
    owners = defaultdict(set)
    for contact_id, tokens in mine.items():
        for token in tokens:
            owners[token].add(contact_id)
    found, sealed = defaultdict(set), {}
    for other_id, created_at, field, key_id, token, blob in _sealed_holders(session, set(owners)):
        holder = sealed.get(other_id)
        if holder is None:
            sealed[other_id] = SealedContact(session, other_id, created_at, (blob,), (field,))
        else:
            holder.add(field, blob)
        for contact_id in owners[(field, key_id, token)]:
            if contact_id != other_id:
                found[_ordered(contact_id, other_id)].add(field)
    return found, sealed


def _sealed_holders(session, tokens):
    """(contact_id, created_at, field, key_id, token, ciphertext of field) of the holders of
    ``tokens`` {(field, key_id, token)} (email and phone)."""
    ci = ContactIndex
    grouped = defaultdict(list)
    for field, key_id, token in tokens:
        grouped[(field, key_id)].append(token)
    for (field, key_id), values in grouped.items():
        column = getattr(Contact, f"{field}_ct")
        for start in range(0, len(values), CHUNK):
            yield from session.execute(
                select(ci.contact_id, Contact.created_at, ci.field, ci.key_id, ci.token, column)
                .join(Contact, Contact.id == ci.contact_id)
                .where(ci.field == field, ci.key_id == key_id, ci.token.in_(values[start:start + CHUNK])))


def _by_contact(column):
    """``column`` wrapped so that no index serves it: a condition on ``field`` next to one on
    ``contact_id`` would make SQLite walk the lookup index's whole range for that field
    instead of the contact_id index."""
    return column.concat("")


def _name_pairs_statement(chunk):
    """(x, y): x in ``chunk`` with a city, one's name tokens (two or more) all among the other's.

    Candidates hold one of x's tokens that at most NAME_BUCKET_CAP contacts hold:
    if x's tokens are all the other's, x's rarest is shared; if the other's are all
    x's, its rarest is. That is the rebuild's rule, for a few contacts at a time.
    """
    name = blind_index.NAME_WORD.name
    ci = ContactIndex
    # Without a city there is no name pair (name *and* city, ``duplicates.confirm``).
    with_city = select(Contact.id).where(Contact.id.in_(chunk), Contact.city_ct.is_not(None))
    # n_x: how many name tokens x has (a window count, so the pairs below need no join
    # back to a per-contact count: PostgreSQL ran that join as a nested loop over every
    # candidate pair, about 100 ms a batch at 100,000 contacts).
    mine = (select(ci.contact_id, ci.key_id, ci.token, func.count().over(partition_by=ci.contact_id).label("n_x"))
            .where(ci.contact_id.in_(with_city), _by_contact(ci.field) == name)
            .cte("mine").prefix_with("MATERIALIZED"))
    # x's rare tokens: a bucket with no (CAP+1)th entry, at most CAP+1 index entries read
    # per token (counting a common first name's bucket would grow with the table). Kept
    # apart (MATERIALIZED) so the join below walks the holders of rare tokens only.
    crowd = aliased(ci)
    rare = (select(mine.c.contact_id, mine.c.key_id, mine.c.token)
            .where(~exists(select(literal(1)).where(crowd.field == name, crowd.key_id == mine.c.key_id,
                                                    crowd.token == mine.c.token)
                           .limit(1).offset(NAME_BUCKET_CAP)))
            .cte("rare").prefix_with("MATERIALIZED"))
    other = aliased(ci)
    candidates = (select(rare.c.contact_id.label("x"), other.contact_id.label("y"))
                  .join(other, and_(other.field == name, other.key_id == rare.c.key_id,
                                    other.token == rare.c.token, other.contact_id != rare.c.contact_id))
                  .distinct().cte("candidates").prefix_with("MATERIALIZED"))
    m2, y = aliased(mine), aliased(ci)
    shared = (select(candidates.c.x, candidates.c.y, m2.c.n_x, func.count().label("n"))
              .join(m2, m2.c.contact_id == candidates.c.x)
              .join(y, and_(y.contact_id == candidates.c.y, _by_contact(y.field) == name,
                            y.key_id == m2.c.key_id, y.token == m2.c.token))
              .group_by(candidates.c.x, candidates.c.y, m2.c.n_x).subquery())
    size_y = (select(ci.contact_id, func.count().label("n"))
              .where(ci.contact_id.in_(select(candidates.c.y)), _by_contact(ci.field) == name)
              .group_by(ci.contact_id).subquery())
    return (select(shared.c.x, shared.c.y)
            .join(size_y, size_y.c.contact_id == shared.c.y)
            .where(or_(and_(shared.c.n == shared.c.n_x, shared.c.n_x >= 2),
                       and_(shared.c.n == size_y.c.n, size_y.c.n >= 2))))


def _name_pairs_for(session, ids):
    found = set()
    for start in range(0, len(ids), CHUNK):
        found.update(_ordered(x, y) for x, y in session.execute(_name_pairs_statement(ids[start:start + CHUNK])))
    return found


def _ordered(a, b):
    return (a, b) if a < b else (b, a)


def record_for(session, contact_ids):
    """Replace the candidate pairs of ``contact_ids`` with those that hold now; return how many."""
    from .duplicates import confirm

    ids = sorted(set(contact_ids))
    reach, contacts = _reach_pairs(session, ids)
    names = _name_pairs_for(session, ids)
    wanted = {pair: (kinds, pair in names) for pair, kinds in reach.items()}
    wanted.update((pair, (set(), True)) for pair in names if pair not in wanted)
    with normalize.remembered():
        # The reach pairs' contacts came with their email or phone; name pairs' need every field.
        contacts.update(load_sealed(session, {c for pair in names for c in pair}))
        keys = _ReachKeys(contacts)
        rows = []
        for (low, high), (kinds, by_name) in wanted.items():
            one, other = contacts.get(low), contacts.get(high)
            if one is None or other is None:
                continue
            # What ``confirm`` decides for email and phone, from each contact's normal form
            # computed once (a contact shares a token with dozens at 100,000 contacts).
            reasons = [kind for kind in ("email", "phone") if kind in kinds and keys.same(low, high, kind)]
            if by_name:
                reasons += confirm(one, other, False, False, True)
            rows.extend(_row(low, high, reasons))
    c = DuplicateCandidate
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        session.execute(delete(c).where(or_(c.low_id.in_(chunk), c.high_id.in_(chunk))))
    _upsert(session, rows)
    return len(rows)


class _ReachKeys:
    """Each contact's email and phone normal form (``email_key``, ``phone_key``), computed once."""

    def __init__(self, contacts):
        self.contacts, self.region, self.keys = contacts, crypto().phone_region, {}

    def key(self, contact_id, kind):
        found = self.keys.get((contact_id, kind), False)
        if found is False:
            value = getattr(self.contacts[contact_id], kind)
            if value is None or value is UNREADABLE:
                found = None
            else:
                found = email_key(value) if kind == "email" else phone_key(value, self.region)
            self.keys[(contact_id, kind)] = found
        return found

    def same(self, one, other, kind):
        first = self.key(one, kind)
        return first is not None and first == self.key(other, kind)


def _row(low, high, reasons):
    if not reasons:
        return []
    return [{"low_id": low, "high_id": high, "by_email": "email" in reasons, "by_phone": "phone" in reasons,
             "by_name": "name_city" in reasons, "strength": len(reasons), "found_at": utcnow()}]


def _upsert(session, rows):
    """Insert pairs; a pair another transaction recorded meanwhile is updated instead."""
    if not rows:
        return
    table = DuplicateCandidate.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    for start in range(0, len(rows), 1000):
        statement = dialect.insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=["low_id", "high_id"],
            set_={name: statement.excluded[name] for name in ("by_email", "by_phone", "by_name", "strength",
                                                               "found_at")})
        session.execute(statement, rows[start:start + 1000])


# -- the full rebuild -------------------------------------------------------------------------

def rebuild(session, name_pairs_statement):
    """Recompute every pair (the repair job); returns (pairs examined, pairs kept).

    ``name_pairs_statement`` selects (low, high) of contacts whose name tokens are all
    among the other's (``duplicates._name_pairs``); those are confirmed by decryption.
    """
    from .duplicates import confirm

    groups = _reach_groups(session)
    pairs = defaultdict(set)
    for (kind, _), ids in groups.items():
        for low, high in itertools.combinations(sorted(ids), 2):
            pairs[(low, high)].add(kind)
    del groups
    exact = len(pairs)
    proposed = session.execute(name_pairs_statement).all()
    with normalize.remembered():
        for start in range(0, len(proposed), 1000):
            chunk = proposed[start:start + 1000]
            contacts = load_sealed(session, {c for pair in chunk for c in pair})
            for low, high in chunk:
                one, other = contacts.get(low), contacts.get(high)
                if one is not None and other is not None and confirm(one, other, False, False, True):
                    pairs[_ordered(low, high)].add("name_city")
    session.execute(delete(DuplicateCandidate))
    rows = [row for (low, high), reasons in pairs.items() for row in _row(low, high, reasons)]
    _upsert(session, rows)
    return exact + len(proposed), len(rows)


def _reach_groups(session, batch=2000):
    """{(kind, digest): [contact ids]} of equal normalised emails and phones.

    The digest is an HMAC under a key drawn for this run and never stored: the
    memory of the job holds no address or number, and no two runs' digests compare.
    """
    key = os.urandom(32)
    region = crypto().phone_region
    cipher = crypto().cipher
    groups = defaultdict(list)
    last = None
    while True:
        query = select(Contact.id, Contact.email_ct, Contact.phone_ct).order_by(Contact.id).limit(batch)
        if last is not None:
            query = query.where(Contact.id > last)
        rows = session.execute(query).all()
        if not rows:
            return groups
        last = rows[-1][0]
        for contact_id, *blobs in rows:
            for kind, blob, keyed in (("email", blobs[0], email_key),
                                      ("phone", blobs[1], lambda v: phone_key(v, region))):
                if blob is None:
                    continue
                try:
                    value = keyed(cipher.decrypt(Contact.__tablename__, kind, contact_id, blob))
                except DecryptionError:
                    continue
                if value:
                    groups[(kind, hmac.new(key, value.encode(), hashlib.sha256).digest()[:16])].append(contact_id)
