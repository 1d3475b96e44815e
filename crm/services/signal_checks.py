"""The five infiltration checks. They run in jobs, never in a public request.

- ``shared_contact_detail``: another contact has the same email, phone or handle
  under a different name. Only the candidates sharing the truncated token are
  decrypted; collisions are dropped by comparing the normalised value
  (``lookup.find``), then the name words are compared in any spelling.
- ``ip_burst``: at least ``SIGNAL_IP_BURST_COUNT`` join forms from one network
  (/24, /64; kept as a keyed HMAC) within ``SIGNAL_IP_BURST_MINUTES``.
- ``registration_spike``: self-registrations in the last hour above the trailing
  mean + k standard deviations of the hourly counts of the last N days, and at
  least a minimum (a reconcile step, every minute).
- ``blocklist_match``: the details meet a blocklist entry (``blocklist``).
- ``staff_detail``: the email equals a staff account's.
"""
import math
import statistics
from datetime import UTC, timedelta

from flask import current_app
from sqlalchemy import and_, delete, func, select

from ..extensions import db
from ..models import Contact, ImportRow, User
from ..models.base import utcnow
from ..models.signal import RegistrationSource
from ..security import audit, blind_index, network_index, normalize
from ..security.crypto import crypto
from ..security.fields import UNREADABLE
from . import blocklist, lookup, reconcile
from .duplicates import _words_match
from .signals import raise_signal

REACH = (("email", blind_index.EMAIL), ("phone", blind_index.PHONE), ("messenger", blind_index.MESSENGER))
EVIDENCE_IDS = 20  # other contacts named in one flag's evidence at most


def _aware(at):
    return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)


def _plain(value):
    return None if value is None or value is UNREADABLE else value


# -- where a registration came from -------------------------------------------------------

def note_source(pending_id, client_address, now=None):
    """Keep the network of a join form (keyed HMAC) with its pending registration's id.

    The same statement and the same HMAC for every submission, whoever it is.
    """
    network, kind = network_index.network_of(client_address)
    keyring = crypto().keyring
    digest = network_index.digest(keyring, network or "-")
    db.session.add(RegistrationSource(pending_id=pending_id, network=digest if network else None,
                                      network_kind=kind, key_id=keyring.active_id, created_at=now or utcnow()))


def link_source(pending_id, contact_id):
    """The registration became (or merged into) ``contact_id``."""
    for source in db.session.scalars(select(RegistrationSource).where(RegistrationSource.pending_id == pending_id)):
        source.contact_id = contact_id


def purge_sources(days, now=None):
    """Delete source rows older than ``days`` (the retention of unconfirmed registrations)."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    result = db.session.execute(delete(RegistrationSource).where(RegistrationSource.created_at < cutoff)
                                .execution_options(synchronize_session=False))
    return result.rowcount or 0


# -- the checks of one contact ------------------------------------------------------------

def scan_contact(contact_id):
    """Run the per-contact checks on ``contact_id``; returns the kinds raised (a gone contact: None)."""
    contact = db.session.get(Contact, contact_id)
    if contact is None:  # erased or merged away since the job was queued: a clean no-op
        audit.record("signal.scan_skipped", "contact", contact_id, reason="gone")
        return None
    raised = []
    raised += shared_contact_detail(contact)
    raised += ip_burst(contact)
    raised += blocklist_match(contact)
    raised += staff_detail(contact)
    db.session.flush()
    return raised


def scan_import_batch(import_id, first_record, last_record):
    """The checks of every contact a batch of an import created or merged into."""
    ids = list(dict.fromkeys(db.session.scalars(select(ImportRow.contact_id).where(
        ImportRow.import_id == import_id, ImportRow.record >= first_record, ImportRow.record <= last_record,
        ImportRow.contact_id.is_not(None), ImportRow.outcome.in_(("created", "merged"))))))
    raised = 0
    for contact_id in ids:
        raised += len(scan_contact(contact_id) or [])
    return {"contacts": len(ids), "raised": raised}


def shared_contact_detail(contact):
    raised = []
    for name, spec in REACH:
        value = _plain(getattr(contact, name))
        if not value:
            continue
        for other in lookup.find(spec, value):
            if other.id == contact.id or _words_match(_plain(contact.full_name), _plain(other.full_name)):
                continue
            for one, two in ((contact, other), (other, contact)):
                if raise_signal(one.id, "shared_contact_detail", f"{name}:{two.id}",
                                {"field": name, "contacts": [str(two.id)]}):
                    raised.append("shared_contact_detail")
    return raised


def _window():
    return timedelta(minutes=current_app.config["SIGNAL_IP_BURST_MINUTES"])


def _burst_count(source):
    """How many join forms came from ``source``'s network within the burst window around it."""
    at, window = _aware(source.created_at), _window()
    same = and_(RegistrationSource.network == source.network, RegistrationSource.key_id == source.key_id,
                RegistrationSource.created_at > at - window, RegistrationSource.created_at <= at + window)
    return same, db.session.scalar(select(func.count()).select_from(RegistrationSource).where(same))


def pending_in_burst(pending_id):
    """True when a pending registration's form came in a burst from its network (no merge then)."""
    threshold = current_app.config["SIGNAL_IP_BURST_COUNT"]
    return any(_burst_count(source)[1] >= threshold for source in db.session.scalars(
        select(RegistrationSource).where(RegistrationSource.pending_id == pending_id,
                                         RegistrationSource.network.is_not(None))))


def ip_burst(contact):
    """Flag every contact of a burst this contact's registration was part of."""
    raised = []
    window, threshold = _window(), current_app.config["SIGNAL_IP_BURST_COUNT"]
    sources = db.session.scalars(select(RegistrationSource).where(
        RegistrationSource.contact_id == contact.id, RegistrationSource.network.is_not(None))).all()
    for source in sources:
        same, count = _burst_count(source)
        if count < threshold:
            continue
        members = [c for c in dict.fromkeys(db.session.scalars(
            select(RegistrationSource.contact_id).where(same, RegistrationSource.contact_id.is_not(None))
            .order_by(RegistrationSource.created_at)))]
        for member in members:
            others = [str(c) for c in members if c != member][:EVIDENCE_IDS]
            evidence = {"count": count, "window_minutes": int(window.total_seconds() // 60),
                        "network": source.network_kind, "contacts": others}
            if raise_signal(member, "ip_burst", "burst", evidence):
                raised.append("ip_burst")
    return raised


def blocklist_match(contact):
    raised = []
    for entry, kinds in blocklist.matches(blocklist.Details.of(contact)).items():
        evidence = {"entry": str(entry.id), "entry_reason": entry.reason, "matched": kinds}
        if raise_signal(contact.id, "blocklist_match", f"entry:{entry.id}", evidence):
            raised.append("blocklist_match")
    return raised


def staff_detail(contact):
    """The contact's email equals a staff account's (decrypted: staff accounts are few)."""
    email = normalize.normalize_email(_plain(contact.email)) if _plain(contact.email) else None
    if not email:
        return []
    raised = []
    for user in db.session.scalars(select(User)):
        own = _plain(user.email)
        if own and normalize.normalize_email(own) == email:
            if raise_signal(contact.id, "staff_detail", f"user:{user.id}:email",
                            {"field": "email", "user": str(user.id)}):
                raised.append("staff_detail")
    return raised


def registration_data_flagged(details):
    """True when a registration's own details meet the blocklist or a staff email (no merge then)."""
    if blocklist.matches(details):
        return True
    email = normalize.normalize_email(details.email) if details.email else None
    if not email:
        return False
    return any(_plain(u.email) and normalize.normalize_email(_plain(u.email)) == email
               for u in db.session.scalars(select(User)))


# -- the spike: a reconcile step ------------------------------------------------------------

def spike_figures(now=None):
    """(count in the last hour, mean, stddev, threshold) of self-registrations; None below the minimum."""
    config = current_app.config
    now = now or utcnow()
    start = now - timedelta(hours=1)
    recent = db.session.scalar(select(func.count()).select_from(Contact).where(
        Contact.source == "self", Contact.created_at > start, Contact.created_at <= now))
    if recent < config["SIGNAL_SPIKE_MIN_COUNT"]:
        return None
    hours = config["SIGNAL_SPIKE_BASELINE_DAYS"] * 24
    since = start - timedelta(hours=hours)
    buckets = [0] * hours
    for at in db.session.scalars(select(Contact.created_at).where(
            Contact.source == "self", Contact.created_at > since, Contact.created_at <= start)):
        index = min(hours - 1, max(0, math.floor((_aware(at) - since).total_seconds() / 3600)))
        buckets[index] += 1
    mean, stddev = statistics.fmean(buckets), statistics.pstdev(buckets)
    threshold = mean + config["SIGNAL_SPIKE_STDDEVS"] * stddev
    return recent, mean, stddev, threshold


def registration_spike(now=None):
    """Flag the contacts self-registered in the last hour when that hour is a spike; returns how many."""
    now = now or utcnow()
    figures = spike_figures(now)
    if figures is None or figures[0] <= figures[3]:
        return 0
    recent, mean, stddev, _threshold = figures
    evidence = {"count": recent, "window_minutes": 60, "mean": round(mean, 2), "stddev": round(stddev, 2),
                "baseline_days": current_app.config["SIGNAL_SPIKE_BASELINE_DAYS"]}
    raised = 0
    for contact_id in db.session.scalars(select(Contact.id).where(
            Contact.source == "self", Contact.created_at > now - timedelta(hours=1), Contact.created_at <= now)):
        if raise_signal(contact_id, "registration_spike", "spike", evidence):
            raised += 1
    db.session.flush()
    return raised


@reconcile.step("registration_spike")
def _spike_step(app, now):
    return registration_spike(now)
