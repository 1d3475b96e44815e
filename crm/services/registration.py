"""Self-registration with double opt-in: submit, confirm, then create or merge a contact.

The two public steps do the same work whoever the person is. ``submit`` never
looks at existing contacts: it validates, encrypts the values into a
``PendingRegistration`` and queues the confirmation mail, known person or not.
``confirm`` marks the registration confirmed and queues ``complete_registration``.
Only that job, out of band, looks the person up and either creates a contact in
the triage queue or merges the chosen paths into the contact already there, so
no response time depends on whether someone is registered
(docs/decisions/0017-self-registration.md).
"""
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from ..i18n import LANGUAGES
from ..jobs import enqueue
from ..models import ContactNote, PendingRegistration
from ..models.base import utcnow
from ..models.enums import CLOSED_STAGES, PATHS
from ..security import audit, blind_index, normalize
from ..security.crypto import crypto
from ..security.fields import UNREADABLE
from . import contacts as contact_service
from . import blocklist, export_canary, lookup, signal_checks, signals
from .contacts import ContactData, ValidationError
from .duplicates import _words_match

EXTRA_LENGTHS = {"message": 2000}
TEXT_FIELDS = ("full_name", "email", "phone", "messenger", "city", "country", "skills", "languages",
               "availability", "message")
CONFIRM_MAIL_TEMPLATE = "public/join_confirm"
COMPLETE_JOB = "workers.jobs.complete_registration"


@dataclass(frozen=True)
class RegistrationData:
    """What the join form hands over (already stripped of anything but text)."""

    full_name: str
    email: str
    consent_version: str
    phone: str | None = None
    messenger: str | None = None
    city: str | None = None
    country: str | None = None
    skills: str | None = None
    languages: str | None = None
    availability: str | None = None
    message: str | None = None
    locale: str = "en"
    paths: tuple = field(default_factory=tuple)


def hash_token(token):
    """The stored form of a confirmation token (the token itself is only in the mail)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(at):
    return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)


# The person's own answers that are not identifying: a merge confirmed by email updates them.
OWN_ANSWERS = ("skills", "languages", "availability")
NOTE_LABELS = (("skills", "Skills"), ("languages", "Languages"), ("availability", "Availability"),
               ("message", "Message"))


def staff_notes(**answers):
    """A note for the coordinators from free-text answers (labelled for staff), or None."""
    parts = [f"{label}: {answers[name]}" for name, label in NOTE_LABELS if answers.get(name)]
    return "\n\n".join(parts) or None


def _contact_data(data, source="self"):
    return ContactData(
        full_name=data.full_name, email=data.email, phone=data.phone, messenger=data.messenger,
        city=data.city, country=data.country, skills=data.skills, languages=data.languages,
        availability=data.availability, notes=staff_notes(message=data.message), source=source,
        preferred_locale=data.locale, consent_version=data.consent_version, paths=tuple(data.paths),
    )


def validate(data):
    """Field errors (English, for logs and tests; the form shows its own translated ones)."""
    errors = {}
    for name, limit in EXTRA_LENGTHS.items():
        value = getattr(data, name)
        if value is not None and not isinstance(value, str):
            errors[name] = "must be text"
        elif value and len(value) > limit:
            errors[name] = f"is too long (at most {limit} characters)"
        elif value and contact_service._has_control_chars(value, multiline=True):
            errors[name] = "contains control or invisible formatting characters"
    errors.update(contact_service.validate(_contact_data(data), crypto().phone_region))
    errors.pop("notes", None)  # built from the message, checked above
    if not isinstance(data.email, str) or not data.email.strip():
        errors.setdefault("email", "is required")
    if not data.paths:
        errors.setdefault("paths", "choose at least one")
    if data.locale not in LANGUAGES:
        errors["locale"] = "unknown language"
    if not data.consent_version:
        errors["consent"] = "is required"
    return errors


def submit(data, link_for, client_address=None):
    """Keep an encrypted pending registration and queue its confirmation mail.

    ``link_for(token)`` builds the absolute confirmation URL. The same statements,
    encryptions and jobs whether or not the person is already known: no lookup of
    contacts happens here. Returns the PendingRegistration (the caller commits).
    """
    from . import mail  # the mail service needs the app's templates; imported on use

    with normalize.remembered():
        errors = validate(data)
        if errors:
            raise ValidationError(errors)
        token = secrets.token_urlsafe(32)
        now = utcnow()
        pending = PendingRegistration(
            token_hash=hash_token(token), consent_version=data.consent_version, created_at=now,
            expires_at=now + timedelta(hours=current_app.config["JOIN_CONFIRM_HOURS"]),
        )
        for name in TEXT_FIELDS:
            setattr(pending, name, getattr(data, name))
        pending.paths = ",".join(dict.fromkeys(data.paths))
        pending.locale = data.locale
    db.session.add(pending)
    db.session.flush()
    signal_checks.note_source(pending.id, client_address)  # the network as a keyed HMAC (decision 0022)
    mail.queue_mail(
        key=f"join-confirm:{pending.id}", kind="join_confirm", to=data.email.strip(),
        template=CONFIRM_MAIL_TEMPLATE, locale=data.locale, exempt="join_confirmation",
        context={"confirm_url": link_for(token), "hours": current_app.config["JOIN_CONFIRM_HOURS"]},
    )
    return pending


def _open_pending(token):
    """The unexpired, unconfirmed registration of ``token``, or None (one query either way)."""
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        token = ""
    pending = db.session.scalar(
        select(PendingRegistration).where(PendingRegistration.token_hash == hash_token(token))
    )
    if pending is None or pending.confirmed_at is not None or _aware(pending.expires_at) <= utcnow():
        return None
    return pending


def link_is_open(token):
    """True while ``token`` can still confirm a registration (the GET page)."""
    return _open_pending(token) is not None


def confirm(token):
    """Confirm the registration of ``token`` once; queue its completion. False if not open."""
    pending = _open_pending(token)
    if pending is None:
        return False
    pending.confirmed_at = utcnow()
    db.session.flush()
    enqueue(COMPLETE_JOB, pending.id, queue="default")
    return True


def _registration_data(pending):
    values = {name: getattr(pending, name) for name in TEXT_FIELDS}
    if any(v is UNREADABLE for v in values.values()):
        raise ValidationError({"pending": "a value did not decrypt"})
    return RegistrationData(consent_version=pending.consent_version, locale=pending.locale or "en",
                            paths=pending.path_list, **values)


def complete(pending_id):
    """Turn a confirmed registration into a contact, or merge it into the person already known.

    Idempotent: a registration already completed (deleted) or not confirmed is left
    alone. Returns ``(contact, merged)`` or None.
    """
    pending = db.session.get(PendingRegistration, pending_id)
    if pending is None or pending.confirmed_at is None:
        return None
    data = _registration_data(pending)
    with normalize.remembered():
        by_email = lookup.find_by_email(data.email)
        known = by_email or (lookup.find_by_phone(data.phone) if data.phone else [])
        known = _mergeable(known, data, pending.id)
        if known:
            contact = known[0]
            _merge(contact, data, pending, same_email=bool(by_email))
        else:
            contact = contact_service.create_contact(_contact_data(data), check_duplicates=False).contact
            contact.consent_at = _aware(pending.confirmed_at)
        _trace_canaries(contact, data)
    signal_checks.link_source(pending.id, contact.id)
    signals.enqueue_scan(contact.id)
    db.session.delete(pending)
    db.session.flush()
    audit.record("registration.complete", "contact", contact.id, merged=bool(known),
                 paths=sorted(set(data.paths)))
    return contact, bool(known)


def _trace_canaries(contact, data):
    """Record an export canary's email or phone coming back through the join form.

    A canary exists only in one export's file, so a confirmed registration with its
    address (or, more likely, its phone: the address needs its mailbox) means that
    file is in someone's hands and being used. Audited with the export and the new
    contact's ids (no values), for the admins who trace leaks (decision 0019).
    """
    for export in export_canary.trace_values([data.email, data.phone]):
        audit.record("export.canary_seen", "export", export.id, via="join", contact_id=str(contact.id))


def _mergeable(known, data, pending_id):
    """``known`` if the registration may merge silently into its first contact, else [].

    Never silently (decision 0022): into a flagged contact, when the registration itself
    meets the blocklist or a staff address or came in a burst from one network, or when
    the email/phone matches under a different name. Then a separate contact is created
    and the signal job flags what it finds (both contacts, for a detail under another name).
    """
    if not known:
        return known
    other = known[0]
    name = other.full_name if other.full_name is not UNREADABLE else None
    if (signals.is_flagged(other.id) or not _words_match(data.full_name, name)
            or signal_checks.registration_data_flagged(blocklist.Details.of(data))
            or signal_checks.pending_in_burst(pending_id)):
        return []
    return known


def _merge(contact, data, pending, same_email):
    """Add the chosen paths (reopening closed ones) and keep the new answers.

    Identifying fields are never overwritten: a phone typed into the public form is
    unverified, and must not let anyone attach their own address to someone else.
    The person's own answers (skills, languages, availability) replace the old ones
    only when the address was proved (same email); else they go into the note.
    """
    for path in data.paths:
        if path not in PATHS:
            continue
        choice = contact.path(path)
        if choice is None or choice.stage in CLOSED_STAGES:
            contact_service.move_stage(contact.id, path, "interested", by_rule=True)
    answers = {name: getattr(data, name) for name in OWN_ANSWERS}
    if same_email:
        contact.consent_version = data.consent_version
        contact.consent_at = _aware(pending.confirmed_at)
        contact.preferred_locale = data.locale
        for name, value in answers.items():
            if value and value != getattr(contact, name):
                setattr(contact, name, value)
        answers = {}
    note = staff_notes(message=data.message, **answers)
    if note:
        db.session.add(ContactNote(contact_id=contact.id, body="Self-registration again.\n\n" + note))


def purge_unconfirmed(days, now=None):
    """Delete unconfirmed registrations older than ``days``; return how many."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    result = db.session.execute(
        delete(PendingRegistration)
        .where(PendingRegistration.confirmed_at.is_(None), PendingRegistration.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    count = result.rowcount or 0
    sources = signal_checks.purge_sources(days, now)  # the networks go with the pending rows
    if count or sources:
        audit.record("registration.purge", "pending_registration", None, count=count, older_than_days=days,
                     sources=sources)
    return count


def stalled_confirmations(grace_seconds, now=None):
    """Ids of confirmed registrations whose completion job should have run by now."""
    cutoff = (now or utcnow()) - timedelta(seconds=grace_seconds)
    return list(db.session.scalars(
        select(PendingRegistration.id)
        .where(PendingRegistration.confirmed_at.is_not(None), PendingRegistration.confirmed_at < cutoff)
    ))


def find_pending_by_email(raw):
    """Pending registrations whose email really is ``raw`` (for data-rights requests and erasure)."""
    indexer = crypto().indexer
    wanted = indexer.normalized_values(blind_index.EMAIL, raw)
    if not wanted:
        return []
    clauses = []
    for key_id in indexer.keyring.ids():
        tokens = indexer.tokens(blind_index.EMAIL, raw, key_id)
        clauses.append((PendingRegistration.index_key_id == key_id)
                       & PendingRegistration.email_token.in_(tokens))
    from sqlalchemy import or_

    rows = db.session.scalars(select(PendingRegistration).where(or_(*clauses)))
    return [p for p in rows
            if p.email not in (None, UNREADABLE)
            and indexer.normalized_values(blind_index.EMAIL, p.email) & wanted]
