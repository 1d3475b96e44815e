"""Candidate duplicate pairs: the duplicates page, dismissals, and the full rebuild.

Two contacts are a candidate pair when their index rows share a token of the
same kind under the same key (an email token, a phone token, or every name
token of one of them) and decryption confirms it (email and phone normalised;
the name word by word in any transliteration, plus the same city of residence).
Pairs are recorded in ``duplicate_candidate`` (ids and kinds) as contacts are
written (``duplicate_pairs.record_for``); ``refresh_candidates`` rebuilds the
table (a job: the repair). The page reads that table strongest pairs first, in a
stable order (keyset pagination over ``(strength, low_id, high_id)``), re-checks
each pair it shows against the current values, and audits the ids shown.
"""
import uuid
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, literal, or_, select, tuple_, union_all
from sqlalchemy.orm import aliased

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Contact, ContactIndex
from ..models.merge import DuplicateCandidate, DuplicateDismissal
from ..security import audit, blind_index, normalize, permissions
from ..security.crypto import crypto
from ..security.fields import UNREADABLE
from . import duplicate_pairs
from .match_keys import email_key, phone_key

PAGE_SIZE = 20
# A name whose rarest word (token) more than this many contacts share is "common":
# pairing on it would compare it with all of them (email and phone still pair such people).
NAME_BUCKET_CAP = duplicate_pairs.NAME_BUCKET_CAP
REFRESH_TIMEOUT = 3600  # seconds: the refresh job decrypts every contact once (a minute or so at 100k)
SCAN_BATCH = 100  # contacts decrypted a batch of pairs at a time
SCAN_CAP = 1000  # candidate pairs fetched (one query) and examined per page at most
REASONS = ("email", "phone", "name_city")


@dataclass
class Pair:
    low: Contact
    high: Contact
    reasons: list

    @property
    def key(self):
        return f"{self.low.id}.{self.high.id}"


@dataclass
class PairPage:
    pairs: list
    next_cursor: str | None
    examined: int


def _ordered(a, b):
    a, b = uuid.UUID(str(a)), uuid.UUID(str(b))
    if a == b:
        raise ServiceError(_l("a contact cannot be its own duplicate"))
    return (a, b) if a < b else (b, a)


def parse_cursor(value):
    """``"<strength>.<low>.<high>"`` -> (strength, low, high); None for an empty or malformed cursor."""
    try:
        strength, low, high = (value or "").split(".")
        return int(strength), uuid.UUID(low), uuid.UUID(high)
    except ValueError:
        return None


def _shared_token_pairs(field, kind):
    """(low, high, kind) for contacts with a common token of index ``field``."""
    a, b = aliased(ContactIndex), aliased(ContactIndex)
    return (select(a.contact_id.label("low"), b.contact_id.label("high"), literal(kind).label("kind"))
            .join(b, and_(b.field == a.field, b.token == a.token, b.key_id == a.key_id,
                          b.contact_id > a.contact_id))
            .where(a.field == field))


def _name_pairs():
    """(low, high, 'name') for contacts where one name's tokens are all among the other's.

    Each contact is paired only with the holders of its *rarest* name token (a
    window over the token bucket sizes), and the pair is kept when every token
    of that contact is also the other's. A name's tokens include its Cyrillic
    and Latin spellings (0004), so ``Aliaksandr Testavy`` is inside
    ``Аляксандр Тэставы``; one shared word is not enough for a two-word name.
    The work grows with the size of the rarest buckets, not with the square of
    a common name's bucket; a name whose every word is held by more than
    NAME_BUCKET_CAP contacts is too common to pair on (email and phone still do).
    """
    name = blind_index.NAME_WORD.name
    ci = ContactIndex
    buckets = (select(ci.key_id, ci.token, func.count().label("size")).where(ci.field == name)
               .group_by(ci.key_id, ci.token).subquery())
    ranked = (select(ci.contact_id, ci.key_id, ci.token, buckets.c.size,
                     func.row_number().over(partition_by=ci.contact_id,
                                            order_by=(buckets.c.size, ci.key_id, ci.token)).label("rank"),
                     func.count().over(partition_by=ci.contact_id).label("n"))
              .join(buckets, and_(buckets.c.key_id == ci.key_id, buckets.c.token == ci.token))
              .where(ci.field == name).subquery())
    other = aliased(ci)
    candidates = (select(ranked.c.contact_id.label("small"), other.contact_id.label("big"), ranked.c.n)
                  .join(other, and_(other.field == name, other.key_id == ranked.c.key_id,
                                    other.token == ranked.c.token, other.contact_id != ranked.c.contact_id))
                  .where(ranked.c.rank == 1, ranked.c.n >= 2, ranked.c.size <= NAME_BUCKET_CAP).subquery())
    x, y = aliased(ci), aliased(ci)
    inside = (select(candidates.c.small, candidates.c.big)
              .join(x, and_(x.contact_id == candidates.c.small, x.field == name))
              .join(y, and_(y.contact_id == candidates.c.big, y.field == name,
                            y.key_id == x.key_id, y.token == x.token))
              .group_by(candidates.c.small, candidates.c.big, candidates.c.n)
              .having(func.count() == candidates.c.n).subquery())
    low = case((inside.c.small < inside.c.big, inside.c.small), else_=inside.c.big)
    high = case((inside.c.small < inside.c.big, inside.c.big), else_=inside.c.small)
    return select(low.label("low"), high.label("high")).distinct()


def candidates_statement():
    """SELECT low, high, by_email, by_phone, by_name, strength over every pair sharing a token."""
    names = _name_pairs().subquery()
    found = union_all(_shared_token_pairs(blind_index.EMAIL.name, "email"),
                      _shared_token_pairs(blind_index.PHONE.name, "phone"),
                      select(names.c.low, names.c.high, literal("name").label("kind"))).subquery()
    flag = lambda kind: func.max(case((found.c.kind == kind, 1), else_=0)) == 1  # noqa: E731
    return (select(found.c.low, found.c.high, flag("email"), flag("phone"), flag("name"),
                   func.count(func.distinct(found.c.kind)))
            .group_by(found.c.low, found.c.high))


def refresh_candidates():
    """Recompute ``duplicate_candidate`` from scratch; returns the number of pairs kept.

    Pairs are recorded as contacts are written (``duplicate_pairs.record_for``); this
    full rebuild is the repair (hourly by cron, and the page's button). Equal emails
    and phones are found by decrypting each contact once and grouping (no pair of
    colliding tokens is ever decrypted); name pairs come from the self-join in SQL
    and are confirmed by decryption. Only ids and kinds are stored.
    """
    examined, kept = duplicate_pairs.rebuild(db.session, _name_pairs())
    audit.record("duplicates.refresh", None, None, candidates=examined, pairs=kept)
    db.session.flush()
    return kept


def last_refresh():
    """When the candidate pairs were last computed (None: never, or none found)."""
    return db.session.scalar(select(func.max(DuplicateCandidate.found_at)))


def pairs_statement(user):
    """Candidate pairs ``user`` may see and nobody dismissed, strongest first, then by ids.

    Visibility is one correlated EXISTS per side, answered by the contact's primary
    key. Not ``low_id IN (visible ids)``: SQLite may drive that from the two lists,
    probing every visible contact against every other (quadratic: minutes at 30,000
    contacts); this way it walks the pairs in page order and stops at the limit.
    """
    c = DuplicateCandidate

    def visible(column):
        return select(Contact.id).where(Contact.id == column, permissions.contact_clause(user)).exists()

    return (select(c.low_id, c.high_id, c.by_email, c.by_phone, c.by_name, c.strength)
            .where(visible(c.low_id), visible(c.high_id),
                   ~exists().where(DuplicateDismissal.low_id == c.low_id,
                                   DuplicateDismissal.high_id == c.high_id))
            .order_by(c.strength.desc(), c.low_id, c.high_id))


def _words_match(one, other):
    """True when every word of the shorter text meets a word of the other (any spelling)."""
    if not isinstance(one, str) or not isinstance(other, str):
        return False
    words_one, words_other = normalize.name_words(one), normalize.name_words(other)
    if not words_one or not words_other:
        return False
    if len(words_one) > len(words_other):
        words_one, words_other = words_other, words_one
    variants_other = [normalize.name_word_variants(w) for w in words_other]
    return all(any(normalize.name_word_variants(w) & v for v in variants_other) for w in words_one)


def _same(value_one, value_other, normaliser):
    if value_one in (None, UNREADABLE) or value_other in (None, UNREADABLE):
        return False
    first = normaliser(value_one)
    return first is not None and first == normaliser(value_other)


def confirm(one, other, by_email=True, by_phone=True, by_name=True):
    """The reasons (REASONS) that really hold for two decrypted contacts."""
    region = crypto().phone_region
    reasons = []
    if by_email and _same(one.email, other.email, email_key):
        reasons.append("email")
    if by_phone and _same(one.phone, other.phone, lambda v: phone_key(v, region)):
        reasons.append("phone")
    if (by_name and len(normalize.name_words(one.full_name or "")) >= 2
            and _words_match(one.full_name, other.full_name) and _words_match(one.city, other.city)
            and len(normalize.name_words(one.city)) == len(normalize.name_words(other.city))):
        reasons.append("name_city")
    return reasons


def pair_page(user, cursor=None, per_page=PAGE_SIZE, scan_cap=SCAN_CAP):
    """Up to ``per_page`` confirmed pairs after ``cursor`` that ``user`` may see.

    One query fetches at most ``scan_cap`` candidate pairs after the cursor;
    they are decrypted and checked in order, a batch of contacts at a time,
    until the page is full. ``next_cursor`` continues after the last one examined.
    """
    if not permissions.can(user, "triage.work"):
        raise ServiceError(_l("you may not review duplicates"))
    statement = pairs_statement(user)
    after = parse_cursor(cursor) if isinstance(cursor, str) else cursor
    if after is not None:
        c = DuplicateCandidate
        statement = statement.where(or_(
            c.strength < after[0],
            and_(c.strength == after[0], tuple_(c.low_id, c.high_id) > tuple_(after[1], after[2]))))
    rows = db.session.execute(statement.limit(scan_cap)).all()
    pairs, examined, last = [], 0, None
    for start in range(0, len(rows), SCAN_BATCH):
        batch = rows[start:start + SCAN_BATCH]
        contacts = {c.id: c for c in db.session.scalars(
            select(Contact).where(Contact.id.in_({r[0] for r in batch} | {r[1] for r in batch})))}
        for low_id, high_id, by_email, by_phone, by_name, strength in batch:
            examined += 1
            last = (strength, low_id, high_id)
            one, other = contacts.get(low_id), contacts.get(high_id)
            if one is None or other is None:
                continue
            reasons = confirm(one, other, bool(by_email), bool(by_phone), bool(by_name))
            if reasons:
                pairs.append(Pair(one, other, reasons))
                if len(pairs) >= per_page:
                    break
        if len(pairs) >= per_page:
            break
    if pairs:
        audit.record("duplicates.view", None, None,
                     contacts=sorted({str(c.id) for p in pairs for c in (p.low, p.high)}))
    exhausted = len(rows) < scan_cap and examined == len(rows)
    next_cursor = None if exhausted or last is None else f"{last[0]}.{last[1]}.{last[2]}"
    return PairPage(pairs, next_cursor, examined)


def load_pair(first_id, second_id, user):
    """Both contacts of a pair if ``user`` may see them both and review duplicates; else NotFound."""
    if not permissions.can(user, "triage.work"):
        raise NotFound("not found")
    first = permissions.load_visible(db.session, Contact, first_id, user)
    second = permissions.load_visible(db.session, Contact, second_id, user)
    if first.id == second.id:
        raise NotFound("not found")
    return first, second


def dismiss(first_id, second_id, user):
    """Remember that two contacts are not the same person (idempotent)."""
    first, second = load_pair(first_id, second_id, user)
    low, high = _ordered(first.id, second.id)
    existing = db.session.scalar(select(DuplicateDismissal).where(
        DuplicateDismissal.low_id == low, DuplicateDismissal.high_id == high))
    if existing is None:
        existing = DuplicateDismissal(low_id=low, high_id=high, dismissed_by_id=user.id)
        db.session.add(existing)
        audit.record("duplicates.dismiss", "contact", low, other=str(high))
        db.session.flush()
    return existing
