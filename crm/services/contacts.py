"""Creating contacts and moving them along their cooperation paths.

Services validate, change the models, add audit events and flush; the caller (a
request, a CLI command or a job) commits once.

``Contact.clearance_only`` (the record is for users with the restricted-path
clearance only: every path restricted, a restricted path at stage ``active``, or
relatives at risk at home; rule in ``clearance_only``) is derived data and the
permission filter trusts it. ``create_contact``, ``create_contacts_bulk`` and
``move_stage`` keep it right in the same transaction, ``update_clearance(contact)``
does for a loaded contact whose safety flag changed. Any other code that adds,
removes or re-parents PathChoice rows or changes stages or the flag in SQL (a
merge, an import, raw SQL) must go through them or call
``refresh_visibility(contact_ids)`` before commit. When a record becomes
clearance-only, an assignment and open follow-ups held by users without
clearance are handed back (audited), so that nothing silently vanishes.

Moving a restricted path to ``screening`` or ``active`` needs an approved
two-person request (``crm/services/vetting.py``): ``move_stage`` refuses it
otherwise, whoever calls it.
"""
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, fields

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, false, or_, select, update
from sqlalchemy.orm import aliased

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Contact, ContactIndex, FollowUp, PathChoice, StageChange, User
from ..models.base import utcnow
from ..models.bulk import bind, insert_bound, insert_rows, prebinds
from ..models.contact import index_rows
from ..models.enums import CLOSED_STAGES, CONTACT_SOURCES, PATHS, RESTRICTED_PATHS, STAGES
from ..security import audit, normalize, permissions
from ..security.crypto import crypto
from . import lookup

MAX_LENGTHS = {
    "full_name": 200, "email": 254, "phone": 40, "messenger": 64, "city": 120,
    "country": 120, "notes": 4000, "skills": 1000, "languages": 300, "availability": 300,
}
ENCRYPTED_FIELDS = tuple(MAX_LENGTHS)
MULTILINE_FIELDS = frozenset({"notes", "skills"})


class ValidationError(ServiceError):
    """Input that cannot be stored; ``errors`` maps field names to messages."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ContactData:
    """What a form, an import row or the public form hands to ``create_contact``."""

    full_name: str
    email: str | None = None
    phone: str | None = None
    messenger: str | None = None
    city: str | None = None
    country: str | None = None
    notes: str | None = None
    skills: str | None = None
    languages: str | None = None
    availability: str | None = None
    source: str = "meeting"
    preferred_locale: str | None = None
    consent_version: str | None = None
    paths: tuple = field(default_factory=tuple)

    def __reduce__(self):
        # An import hands one per row from process to process (decision 0031): positional
        # arguments unpickle faster than a state dictionary.
        return ContactData, tuple(getattr(self, name) for name in _CONTACT_DATA_FIELDS)


_CONTACT_DATA_FIELDS = tuple(f.name for f in fields(ContactData))


@dataclass
class Candidate:
    """An existing contact that may be the same person, and why we think so."""

    contact: Contact
    reasons: list


@dataclass
class CreateResult:
    contact: Contact
    candidates: list


def _has_control_chars(value, multiline):
    if value.isprintable():
        return False  # the common case, in C: no Cc, Cf, Cs or Co character at all
    allowed = "\n\r\t" if multiline else ""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in allowed for ch in value)


def validate(data, phone_region):
    """Return field errors (empty when ``data`` can be stored)."""
    errors = {}
    for name, limit in MAX_LENGTHS.items():
        value = getattr(data, name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[name] = _l("must be text")
        elif len(value) > limit:
            errors[name] = _l("is too long (at most %(num)d characters)", num=limit)
        elif _has_control_chars(value, multiline=name in MULTILINE_FIELDS):
            errors[name] = _l("contains control or invisible formatting characters")
    if not (data.full_name or "").strip() and "full_name" not in errors:
        errors["full_name"] = _l("is required")
    if data.email and "email" not in errors and normalize.normalize_email(data.email) is None:
        errors["email"] = _l("is not a valid email address (it needs a name, @ and a domain)")
    if data.phone and "phone" not in errors and normalize.normalize_phone(data.phone, phone_region) is None:
        errors["phone"] = _l("is not a valid phone number (use digits, with + and country code if abroad)")
    unknown = [p for p in data.paths if p not in PATHS]
    if unknown:
        errors["paths"] = f"unknown path {unknown[0]!r} (choose from {', '.join(PATHS)})"
    if data.source not in CONTACT_SOURCES:
        errors["source"] = f"unknown source {data.source!r}"
    return errors


def find_candidates(email=None, phone=None, full_name=None, exclude_id=None):
    """Existing contacts that share an email, a phone or every name word."""
    found = {}

    def note(contacts, reason):
        for contact in contacts:
            if contact.id != exclude_id:
                found.setdefault(contact.id, Candidate(contact, [])).reasons.append(reason)

    if email:
        note(lookup.find_by_email(email), "same email")
    if phone:
        note(lookup.find_by_phone(phone), "same phone")
    if full_name:
        note(lookup.find_by_name(full_name), "same name")
    return sorted(found.values(), key=lambda c: (-len(c.reasons), lookup.created_order(c.contact)))


def create_contact(data, actor_id=None, check_duplicates=True):
    """Create a contact with its paths; return it with possible duplicates found first."""
    with normalize.remembered():
        errors = validate(data, crypto().phone_region)
        if errors:
            raise ValidationError(errors)
        candidates = (find_candidates(data.email, data.phone, data.full_name)
                      if check_duplicates else [])
        contact = build_contact(data, actor_id)
    db.session.add(contact)
    db.session.flush()
    audit.record("contact.create", "contact", contact.id, source=data.source,
                 paths=sorted(set(data.paths)), duplicate_candidates=len(candidates))
    return CreateResult(contact, candidates)


def build_contact(data, actor_id=None):
    """A new, unsaved Contact from validated ``data`` (many at once: ``create_contacts_bulk``)."""
    contact = Contact(
        source=data.source, status="new", preferred_locale=data.preferred_locale,
        consent_version=data.consent_version,
        consent_at=utcnow() if data.consent_version else None,
    )
    for name in ENCRYPTED_FIELDS:
        value = getattr(data, name)
        if value:
            setattr(contact, name, value)
    for path in dict.fromkeys(data.paths):
        choice = PathChoice(id=uuid.uuid4(), path=path, stage="interested")
        choice.history.append(StageChange(from_stage=None, to_stage="interested", actor_id=actor_id))
        contact.paths.append(choice)
    contact.clearance_only = clearance_only((path, "interested") for path in data.paths)
    contact.trust_level = initial_trust(data.source)
    return contact


def initial_trust(source):
    """A new contact's trust level: met in person at a meeting, else unverified (quarantined).

    An import attached to a meeting raises its contacts to ``met`` when it records their
    attendance (``crm.services.trust.mark_met``).
    """
    return "met" if source == "meeting" else "unverified"


def create_contacts_bulk(datas, actor_id=None):
    """Create many contacts at once (demo seeding); return their ids in order.

    Every row is validated first: one invalid row raises ValidationError (keys
    ``"<row number>.<field>"``) and nothing is written. Values are encrypted
    through the ``Encrypted`` descriptors and indexed exactly as ``build_contact``
    does, but rows go in with ``insert_rows`` (COPY on PostgreSQL) instead of one ORM object per contact,
    index token, path and history row. No duplicate check; one audit event
    records the count. Flushes only.
    """
    datas = list(datas)
    with normalize.remembered():
        errors = {}
        region = crypto().phone_region
        for number, data in enumerate(datas, start=1):
            errors.update({f"{number}.{name}": message
                           for name, message in validate(data, region).items()})
        if errors:
            raise ValidationError(errors)
        now = utcnow()
        prepared = [contact_rows(data, actor_id, now) for data in datas]
    return insert_contact_rows(prepared, sources={d.source for d in datas})


@dataclass
class ContactRows:
    """A new contact as plain rows: the contact (fields sealed), its index tokens, paths and history."""

    contact: dict
    indexes: list
    choices: list
    changes: list

    @property
    def id(self):
        return self.contact["id"]


def contact_rows(data, actor_id, now):
    """The ``ContactRows`` of validated ``data`` (a new id; sealed and indexed, nothing written).

    Needs only the keyring, not the database: an import prepares them ahead (decision 0029).
    """
    contact_id = uuid.uuid4()
    row = {"id": contact_id, "source": data.source, "status": "new",
           "preferred_locale": data.preferred_locale, "consent_version": data.consent_version,
           "consent_at": now if data.consent_version else None,
           "created_at": now, "updated_at": now, "version_id": 1,
           "clearance_only": clearance_only((path, "interested") for path in data.paths),
           "trust_level": initial_trust(data.source)}
    indexes, choices, changes = [], [], []
    for column in (getattr(Contact, name) for name in ENCRYPTED_FIELDS):
        value = column.clean(getattr(data, column.name))
        row[column.column_attr] = column.seal(contact_id, value)
        if column.index is not None:
            indexes.extend(index_rows(contact_id, column.index, value, created_at=now))
    for path in dict.fromkeys(data.paths):
        choice_id = uuid.uuid4()
        choices.append({"id": choice_id, "contact_id": contact_id, "path": path,
                        "stage": "interested", "created_at": now, "updated_at": now})
        changes.append({"path_choice_id": choice_id, "from_stage": None, "to_stage": "interested",
                        "actor_id": actor_id, "at": now, "by_rule": False})
    return ContactRows(row, indexes, choices, changes)


@dataclass
class BoundContactRows:
    """``ContactRows`` put through their INSERTs' bind processors, ready for SQLite's
    executemany (``bind_contact_rows``): per table of ``ROW_TABLES``, its INSERT
    (``statements``, one tuple shared by a whole batch) and parameter tuples (``params``)."""

    id: uuid.UUID
    statements: tuple
    params: tuple

    def __reduce__(self):
        # An import hands these from process to process by the thousand (decision 0031):
        # the id as 16 bytes and plain tuples unpickle in a fraction of a dataclass's time.
        return _bound_contact_rows, (self.id.bytes, self.statements, self.params)


def _bound_contact_rows(id_bytes, statements, params):
    return BoundContactRows(uuid.UUID(bytes=id_bytes), statements, params)


ROW_TABLES = (("contact", Contact), ("indexes", ContactIndex), ("choices", PathChoice), ("changes", StageChange))


def _rows_of(item, attr):
    return [item.contact] if attr == "contact" else getattr(item, attr)


def bind_contact_rows(items, dialect):
    """``items`` (``ContactRows`` or already ``BoundContactRows``) as ``BoundContactRows``;
    None where ``dialect`` inserts otherwise (COPY on PostgreSQL).

    Binding takes a batch column by column (each timestamp formatted once), so an import
    does it for a whole batch in its preparing process (decision 0030).
    """
    if not prebinds(dialect):
        return None
    loose = [item for item in items if isinstance(item, ContactRows)]
    statements, params_of = [], [[] for _ in loose]
    for attr, model in ROW_TABLES:
        per_item = [_rows_of(item, attr) for item in loose]
        statement, params = bind(dialect, model.__table__, [row for rows in per_item for row in rows])
        statements.append(statement)
        start = 0
        for item_params, rows in zip(params_of, per_item):
            item_params.append(tuple(params[start:start + len(rows)]))
            start += len(rows)
    statements = tuple(statements)
    bound = iter(BoundContactRows(item.id, statements, tuple(params))
                 for item, params in zip(loose, params_of))
    return [next(bound) if isinstance(item, ContactRows) else item for item in items]


def insert_contact_rows(prepared, sources):
    """Write ``ContactRows`` or ``BoundContactRows`` (``insert_rows``: COPY on PostgreSQL),
    one audit event; ids in order."""
    if not prepared:
        return []
    bound = bind_contact_rows(prepared, db.session.get_bind().dialect)
    for slot, (attr, model) in enumerate(ROW_TABLES):
        if bound is None:
            insert_rows(db.session, model.__table__, [row for item in prepared for row in _rows_of(item, attr)])
            continue
        by_statement = defaultdict(list)  # one statement: a table's rows all have the same columns
        for item in bound:
            if item.statements[slot] is not None:
                by_statement[item.statements[slot]].extend(item.params[slot])
        for statement, params in by_statement.items():
            insert_bound(db.session, statement, params)
    audit.record("contact.bulk_create", "contact", None, count=len(prepared), sources=sorted(sources))
    db.session.flush()
    return [item.id for item in prepared]


def get_contact(contact_id):
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("no such contact")
    return contact


class NeedsApproval(ServiceError):
    """A move that only an approved two-person request may make."""


# The two-person rule (docs/decisions/0021-two-person-rule.md): a restricted path moves to
# these stages only through an approved request (crm/services/vetting.py).
GATED_STAGES = frozenset({"screening", "active"})


def needs_approval(path, to_stage):
    return path in RESTRICTED_PATHS and to_stage in GATED_STAGES


def _approves(approval, contact_id, path, to_stage):
    return (approval is not None and approval.kind == "restricted_stage" and approval.status == "approved"
            and approval.contact_id == contact_id and approval.params == {"path": path, "to_stage": to_stage})


def move_stage(contact_id, path, to_stage, actor_id=None, by_rule=False, approval=None):
    """Move one of a contact's paths to ``to_stage``: history row + audit event.

    Choosing a path the contact did not have yet starts it at ``to_stage``.
    Returns the StageChange (None when the path already is at that stage).
    A restricted path goes to screening or active only with ``approval``, the
    approved request for exactly this move (else ``NeedsApproval``).
    """
    if path not in PATHS:
        raise ValidationError({"path": f"unknown path {path!r}"})
    if to_stage not in STAGES:
        raise ValidationError({"stage": f"unknown stage {to_stage!r}"})
    contact = get_contact(contact_id)
    if path in RESTRICTED_PATHS and contact.trust_level == "unverified" and to_stage not in BEFORE_TRUST:
        raise ServiceError(_l("A restricted path cannot move past interested while the contact is "
                              "unverified: meet them or have them vouched for first."))
    if needs_approval(path, to_stage) and not _approves(approval, contact.id, path, to_stage):
        from ..contacts.labels import PATHS as PATH_LABELS, STAGES as STAGE_LABELS

        raise NeedsApproval(_l("Moving %(path)s to %(stage)s needs two people: a cleared coordinator "
                               "requests it with a reason and another one approves it.",
                               path=PATH_LABELS[path], stage=STAGE_LABELS[to_stage]))
    choice = contact.path(path)
    if choice is None:
        choice = PathChoice(id=uuid.uuid4(), path=path, stage=to_stage)
        contact.paths.append(choice)
        from_stage = None
    elif choice.stage == to_stage:
        return None
    else:
        from_stage = choice.stage
        if from_stage in CLOSED_STAGES and to_stage != "interested":
            raise ServiceError(_l("A declined or withdrawn path can only be reopened as interested."))
        choice.stage = to_stage
    change = StageChange(from_stage=from_stage, to_stage=to_stage, actor_id=actor_id, by_rule=by_rule)
    choice.history.append(change)
    contact.updated_at = utcnow()
    update_clearance(contact)
    db.session.flush()
    extra = {"approval": str(approval.id)} if approval is not None else {}
    audit.record("path.stage", "contact", contact.id, path=path, from_stage=from_stage, to_stage=to_stage, **extra)
    return change


def start_paths(contact, paths, actor_id=None):
    """Start ``contact`` (loaded with its paths) on those of ``paths`` it does not have yet, at
    interested: what ``move_stage(..., "interested")`` does for a new path, for many paths
    without a flush each (an import batch's merges flush once). Returns {path: StageChange}."""
    started = {}
    for path in dict.fromkeys(paths):
        if path not in PATHS:
            raise ValidationError({"path": f"unknown path {path!r}"})
        if contact.path(path) is not None:
            continue
        choice = PathChoice(id=uuid.uuid4(), path=path, stage="interested")
        contact.paths.append(choice)
        change = StageChange(from_stage=None, to_stage="interested", actor_id=actor_id)
        choice.history.append(change)
        started[path] = change
    if started:
        contact.updated_at = utcnow()
        update_clearance(contact)
        for path in started:
            audit.record("path.stage", "contact", contact.id, path=path, from_stage=None, to_stage="interested")
    return started


def only_restricted(paths):
    """True when ``paths`` is not empty and every one is restricted (hidden without clearance)."""
    paths = set(paths)
    return bool(paths) and paths <= RESTRICTED_PATHS


# The rule of ``Contact.clearance_only`` (one home: crm.security.permissions);
# ``clearance_only_sql`` below states it in SQL.
clearance_only = permissions.needs_clearance


def update_clearance(contact):
    """Re-derive ``contact.clearance_only`` from its loaded paths and safety flag; when it
    becomes True, hand back what users without clearance hold. Flushes only."""
    derived = clearance_only(((p.path, p.stage) for p in contact.paths), contact.relatives_at_risk)
    became = derived and not contact.clearance_only
    contact.clearance_only = derived
    if became:
        db.session.flush()
        hand_back([contact.id])
    return derived


# Stages a restricted path may be at while its contact is unverified (quarantine).
BEFORE_TRUST = frozenset({"interested"}) | CLOSED_STAGES

REFRESH_CHUNK = 1000


def clearance_only_sql():
    """``clearance_only`` as a SQL expression over a contact's rows (same rule)."""
    restricted = aliased(PathChoice)
    other = aliased(PathChoice)
    active = aliased(PathChoice)
    return or_(
        Contact.relatives_at_risk,
        and_(exists().where(restricted.contact_id == Contact.id, restricted.path.in_(RESTRICTED_PATHS)),
             ~exists().where(other.contact_id == Contact.id, other.path.not_in(RESTRICTED_PATHS))),
        exists().where(active.contact_id == Contact.id, active.path.in_(RESTRICTED_PATHS),
                       active.stage == "active"),
    )


def refresh_visibility(contact_ids):
    """Re-derive ``clearance_only`` of ``contact_ids`` from their rows, in SQL; hand back.

    For code that changes path choices, stages or the safety flag other than through
    this module (a merge moving paths to the survivor, raw SQL or COPY). Flushes
    first, so pending ORM changes count; loaded contacts are updated too. Flushes only.
    """
    db.session.flush()
    derived = clearance_only_sql()
    ids = list(dict.fromkeys(contact_ids))
    for start in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[start:start + REFRESH_CHUNK]
        db.session.execute(
            update(Contact).where(Contact.id.in_(chunk)).values(clearance_only=derived)
            .execution_options(synchronize_session=False))
        for contact_id in chunk:
            loaded = db.session.identity_map.get(db.session.identity_key(Contact, contact_id))
            if loaded is not None:
                db.session.expire(loaded, ["clearance_only"])
    hand_back(ids)


def hand_back(contact_ids):
    """For clearance-only contacts among ``contact_ids``: an assignee without clearance
    loses the contact (back to the triage queue) and open follow-ups held by users
    without clearance become unassigned (the coordinators' team queue). Audited with
    ids only. Returns (contacts, follow-ups) handed back. Flushes only."""
    ids = list(dict.fromkeys(contact_ids))
    uncleared = select(User.id).where(User.restricted_clearance == false())
    contacts = followups = 0
    for start in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[start:start + REFRESH_CHUNK]
        hidden = select(Contact.id).where(Contact.id.in_(chunk), Contact.clearance_only)
        held = db.session.execute(select(Contact.id, Contact.assignee_id).where(
            Contact.id.in_(hidden), Contact.assignee_id.in_(uncleared))).all()
        for contact_id, previous in held:
            db.session.execute(update(Contact).where(Contact.id == contact_id)
                               .values(assignee_id=None, version_id=Contact.version_id + 1)
                               .execution_options(synchronize_session=False))
            loaded = db.session.identity_map.get(db.session.identity_key(Contact, contact_id))
            if loaded is not None:
                db.session.expire(loaded, ["assignee_id", "assignee", "version_id"])
            audit.record("contact.handed_back", "contact", contact_id, previous_assignee=str(previous),
                         reason="clearance_only")
        contacts += len(held)
        open_held = db.session.execute(select(FollowUp.id, FollowUp.contact_id).where(
            FollowUp.contact_id.in_(hidden), FollowUp.status == "open",
            FollowUp.assignee_id.in_(uncleared))).all()
        if open_held:
            db.session.execute(update(FollowUp).where(FollowUp.id.in_([row[0] for row in open_held]))
                               .values(assignee_id=None).execution_options(synchronize_session="fetch"))
            per_contact = {}
            for followup_id, contact_id in open_held:
                per_contact.setdefault(contact_id, []).append(str(followup_id))
            for contact_id, handed in per_contact.items():
                audit.record("followup.handed_back", "contact", contact_id, followups=handed,
                             reason="clearance_only")
        followups += len(open_held)
    if contacts or followups:
        db.session.flush()
    return contacts, followups
