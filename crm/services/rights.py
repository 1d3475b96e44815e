"""People's own data rights: asking for a link, opening it, and the session it starts.

The public page hands ``ask_for_link`` an address. That request does the same
work whatever the address: it stores the address encrypted and queues one job,
with no lookup at all, so neither the answer nor its timing can tell whether the
address is known. The job (``process_request``) looks the address up through the
blind index, confirms the match by decrypting, mails each matching person a
single-use link in their language, and deletes the stored address either way.

A link's token is random; only its SHA-256 is stored. Opening it (a POST, so a
mail scanner fetching the URL spends nothing) marks it used and starts a short
session bound to the browser; every page after that checks the session.
"""
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from ..i18n import LANGUAGES
from ..jobs import enqueue
from ..models import Contact, ErasureRequest, RightsLink, RightsRequest
from ..models.base import utcnow
from ..security import audit, normalize
from . import lookup

log = logging.getLogger(__name__)
MAIL_TEMPLATE = "rights/link"
MAIL_KIND = "rights_link"


def _aware(at):
    """SQLite hands back naive UTC datetimes; compare aware ones."""
    return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)


def as_uuid(value):
    """A UUID from a job argument (JSON carries it as text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def ask_for_link(email, locale):
    """Store the request and queue its lookup: the same work for any address."""
    locale = locale if locale in LANGUAGES else "en"
    request_row = RightsRequest(email=email, locale=locale)
    db.session.add(request_row)
    db.session.flush()
    enqueue("workers.jobs.send_rights_link", request_row.id)
    return request_row.id


def process_request(request_id, make_url):
    """Mail a link to each contact whose address matches exactly; forget the address.

    ``make_url(token, locale)`` builds the link. Idempotent: a request already
    processed is gone, and the outbox key makes a retried mail a no-op.
    Returns how many links were made.
    """
    from . import mail  # the mail service (owned by the mail helper)

    row = db.session.get(RightsRequest, request_id)
    if row is None:
        return 0
    email = row.email if isinstance(row.email, str) else None
    request_locale = row.locale
    # Claim the request by deleting it: a twin job (requeued by the reconciler) finds nothing.
    claimed = db.session.execute(delete(RightsRequest).where(RightsRequest.id == request_id)).rowcount
    db.session.expunge(row)
    if not claimed:
        return 0
    wanted = normalize.normalize_email(email) if email else None
    made = 0
    for contact in (lookup.find_by_email(email) if wanted else []):
        if normalize.normalize_email(contact.email) != wanted or _erasure_pending(contact.id):
            continue
        if contact.do_not_email:
            # Not exempt (decision 0020): the request may come from whoever reads their mail
            # at home; a coordinator answers through the person's safe channel instead.
            audit.record("rights.link_withheld", "contact", contact.id, reason="do_not_email")
            continue
        locale = contact.preferred_locale if contact.preferred_locale in LANGUAGES else request_locale
        link, token = create_link(contact)
        mail.queue_mail(key=f"rights-link:{link.id}", kind=MAIL_KIND, to=contact.email,
                        template=MAIL_TEMPLATE, locale=locale,
                        context={"url": make_url(token, locale),
                                 "hours": current_app.config["RIGHTS_LINK_HOURS"]})
        audit.record("rights.link_sent", "contact", contact.id, link=str(link.id))
        made += 1
    db.session.flush()
    return made


def create_link(contact):
    """A new link for ``contact``: returns (row, token); only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    hours = current_app.config["RIGHTS_LINK_HOURS"]
    link = RightsLink(contact_id=contact.id, token_hash=token_hash(token),
                      expires_at=utcnow() + timedelta(hours=hours))
    db.session.add(link)
    db.session.flush()
    return link, token


def _erasure_pending(contact_id):
    return db.session.execute(
        select(ErasureRequest.id).where(ErasureRequest.contact_id == contact_id)
    ).first() is not None


@dataclass(frozen=True)
class LinkState:
    """What a token is worth: ``usable`` links can be opened; the rest explain why not."""

    link: RightsLink | None
    reason: str  # "ok", "unknown", "used", "expired"

    @property
    def usable(self):
        return self.reason == "ok"


def check_token(token):
    """Look a token up without spending it."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return LinkState(None, "unknown")
    link = db.session.execute(
        select(RightsLink).where(RightsLink.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if link is None:
        return LinkState(None, "unknown")
    if link.used_at is not None:
        return LinkState(link, "used")
    if _aware(link.expires_at) <= utcnow() or _erasure_pending(link.contact_id):
        return LinkState(link, "expired")
    return LinkState(link, "ok")


def open_link(token):
    """Spend the link and start its session; returns the link, or None if it is not usable."""
    state = check_token(token)
    if not state.usable:
        return None
    link = state.link
    now = utcnow()
    link.used_at = now
    link.session_until = now + timedelta(minutes=current_app.config["RIGHTS_SESSION_MINUTES"])
    db.session.flush()
    audit.record("rights.link_opened", "contact", link.contact_id, link=str(link.id))
    return link


def session_contact(link_id):
    """The contact of an open link session, or None when it has ended (or never began)."""
    link = _get_link(link_id)
    if link is None or link.used_at is None or link.session_until is None:
        return None
    if _aware(link.session_until) <= utcnow() or _erasure_pending(link.contact_id):
        return None
    return db.session.get(Contact, link.contact_id)


def _get_link(link_id):
    try:
        return db.session.get(RightsLink, uuid.UUID(str(link_id))) if link_id else None
    except ValueError:
        return None


def end_session(link_id):
    """Close a link session at once (after an erasure request, or "sign out")."""
    link = _get_link(link_id)
    if link is not None:
        link.session_until = utcnow()
        db.session.flush()


def reconcile(grace_seconds, is_live):
    """Queue again what Redis lost, and tidy up: the cron job's body.

    - erasures requested more than ``grace_seconds`` ago whose job is not live;
    - link requests older than that (their lookup job never ran);
    - links that expired more than a day ago (only hashes, but no reason to keep them).
    ``is_live(job_id)`` answers whether RQ still holds a job. Returns counts.
    """
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    erasures = [contact_id for contact_id, at in db.session.execute(
        select(ErasureRequest.contact_id, ErasureRequest.requested_at))
        if _aware(at) < cutoff and not is_live(erasure_job_id(contact_id))]
    lookups = [row_id for row_id, at in db.session.execute(select(RightsRequest.id, RightsRequest.created_at))
               if _aware(at) < cutoff]
    stale = utcnow() - timedelta(days=1)
    expired = db.session.execute(
        delete(RightsLink).where(RightsLink.expires_at < stale)).rowcount
    db.session.flush()
    return erasures, lookups, expired


def erasure_job_id(contact_id):
    """The one RQ job id of a contact's erasure (the reconciler looks for it)."""
    return f"erase-{contact_id}"
