"""Candidate duplicate pairs, found in SQL through the blind indexes, confirmed by decryption.

Two contacts are a candidate pair when their index rows share a token of the
same kind under the same key: an email token, a phone token, or at least two
name-word tokens (one of them not a very common word). That self-join runs in
the database over ``contact_index`` only and yields pair ids in a stable order
(keyset pagination over ``(low_id, high_id)``). Tokens are truncated, so a
share may be a collision: each pair examined is decrypted and compared
(email and phone normalised; the name word by word in any transliteration, plus
the same city of residence), and unconfirmed pairs are dropped. Only the pairs
examined for the page shown are decrypted, and the ids shown are audited.
"""
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, case, exists, func, literal, select, tuple_, union_all
from sqlalchemy.orm import aliased

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Contact, ContactIndex
from ..models.merge import DuplicateDismissal
from ..security import audit, blind_index, normalize, permissions
from ..security.crypto import crypto
from ..security.fields import UNREADABLE

PAGE_SIZE = 20
SCAN_BATCH = 200
SCAN_CAP = 2000  # candidate pairs examined per page at most (collisions included)
# A name-word token shared by more contacts than this is a common word ("Anna"): it
# still counts towards the two shared words, but cannot on its own start a pair.
NAME_BUCKET_CAP = 50
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
        raise ServiceError("a contact cannot be its own duplicate")
    return (a, b) if a < b else (b, a)


def parse_cursor(value):
    """``"<low>.<high>"`` -> (low, high); None for an empty or malformed cursor."""
    try:
        low, high = (value or "").split(".")
        return uuid.UUID(low), uuid.UUID(high)
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
    """(low, high, 'name') for contacts sharing two name tokens, one of them not common."""
    name = blind_index.NAME_WORD.name
    rare = (select(ContactIndex.key_id, ContactIndex.token).where(ContactIndex.field == name)
            .group_by(ContactIndex.key_id, ContactIndex.token)
            .having(func.count() <= NAME_BUCKET_CAP))
    a, b = aliased(ContactIndex), aliased(ContactIndex)
    started = (select(a.contact_id.label("low"), b.contact_id.label("high"))
               .join(b, and_(b.field == a.field, b.token == a.token, b.key_id == a.key_id,
                             b.contact_id > a.contact_id))
               .where(a.field == name, tuple_(a.key_id, a.token).in_(rare))
               .distinct().subquery())
    x, y = aliased(ContactIndex), aliased(ContactIndex)
    return (select(started.c.low, started.c.high, literal("name").label("kind"))
            .join(x, and_(x.contact_id == started.c.low, x.field == name))
            .join(y, and_(y.contact_id == started.c.high, y.field == name,
                          y.token == x.token, y.key_id == x.key_id))
            .group_by(started.c.low, started.c.high)
            .having(func.count(func.distinct(x.token)) >= 2))


def pairs_statement(user):
    """SELECT low, high, by_email, by_phone, by_name over visible, undismissed pairs."""
    found = union_all(_shared_token_pairs(blind_index.EMAIL.name, "email"),
                      _shared_token_pairs(blind_index.PHONE.name, "phone"),
                      _name_pairs()).subquery()
    visible = select(Contact.id).where(permissions.contact_clause(user))
    flag = lambda kind: func.max(case((found.c.kind == kind, 1), else_=0))  # noqa: E731
    return (select(found.c.low, found.c.high, flag("email"), flag("phone"), flag("name"))
            .where(found.c.low.in_(visible), found.c.high.in_(visible),
                   ~exists().where(DuplicateDismissal.low_id == found.c.low,
                                   DuplicateDismissal.high_id == found.c.high))
            .group_by(found.c.low, found.c.high)
            .order_by(found.c.low, found.c.high))


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
    if by_email and _same(one.email, other.email, normalize.normalize_email):
        reasons.append("email")
    if by_phone and _same(one.phone, other.phone, lambda v: normalize.normalize_phone(v, region)):
        reasons.append("phone")
    if (by_name and len(normalize.name_words(one.full_name or "")) >= 2
            and _words_match(one.full_name, other.full_name) and _words_match(one.city, other.city)
            and len(normalize.name_words(one.city)) == len(normalize.name_words(other.city))):
        reasons.append("name_city")
    return reasons


def pair_page(user, cursor=None, per_page=PAGE_SIZE, scan_cap=SCAN_CAP):
    """Up to ``per_page`` confirmed pairs after ``cursor`` that ``user`` may see.

    Candidates are examined in batches until the page is full or ``scan_cap``
    were looked at; ``next_cursor`` continues after the last one examined.
    """
    if not permissions.can(user, "triage.work"):
        raise ServiceError("you may not review duplicates")
    statement = pairs_statement(user)
    after = parse_cursor(cursor) if isinstance(cursor, str) else cursor
    pairs, examined, last, exhausted = [], 0, after, False
    while len(pairs) < per_page and examined < scan_cap:
        stmt = statement
        if last is not None:
            low_col, high_col = statement.selected_columns[0], statement.selected_columns[1]
            stmt = stmt.where(tuple_(low_col, high_col) > tuple_(literal(last[0]), literal(last[1])))
        rows = db.session.execute(stmt.limit(min(SCAN_BATCH, scan_cap - examined))).all()
        if not rows:
            exhausted = True
            break
        contacts = {c.id: c for c in db.session.scalars(
            select(Contact).where(Contact.id.in_({r[0] for r in rows} | {r[1] for r in rows})))}
        for low, high, by_email, by_phone, by_name in rows:
            examined += 1
            last = (low, high)
            one, other = contacts.get(low), contacts.get(high)
            if one is None or other is None:
                continue
            reasons = confirm(one, other, bool(by_email), bool(by_phone), bool(by_name))
            if reasons:
                pairs.append(Pair(one, other, reasons))
                if len(pairs) >= per_page:
                    break
        if len(rows) < SCAN_BATCH and len(pairs) < per_page and examined < scan_cap:
            exhausted = True
            break
    if pairs:
        audit.record("duplicates.view", None, None,
                     contacts=sorted({str(c.id) for p in pairs for c in (p.low, p.high)}))
    next_cursor = None if exhausted or last is None else f"{last[0]}.{last[1]}"
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
