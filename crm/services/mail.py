"""Queue a mail: render it in the person's language, store it encrypted, send it by a job.

``queue_mail`` is what every feature calls (join confirmation, data-rights links,
staff reminders and digests). It renders ``templates/mail/<template>.subject.txt``,
``.txt`` and ``.html`` under ``force_locale(locale)`` (or an admin's edited
wording of that template and language, see ``mail_templates``), stores one
``Outbox`` row under the caller's idempotency key, and queues
``workers.jobs.send_mail(outbox_id)`` for after the caller's commit. A second
call with the same key is a no-op: a retried job never sends twice.

Mail to staff must carry counts and links only, never a person's details;
subjects and the sender name stay neutral (the mail may be read over a shoulder).
"""
import logging
import re
import uuid

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateNotFound
from markupsafe import escape
from sqlalchemy import select

from .. import jobs
from ..errors import ServiceError
from ..extensions import db
from ..i18n import DEFAULT_LOCALE, LANGUAGES, area_of_path, preferring
from ..models import Outbox
from ..models.base import utcnow
from ..security import audit
from . import mail_templates

log = logging.getLogger(__name__)
MAIL_QUEUE = "mail"
JOB_NAME = "workers.jobs.send_mail"


class MailTemplateMissing(LookupError):
    """No such mail template (a programming error, raised to the caller)."""


def job_id_for(outbox_id):
    """The one RQ job id of a message: the reconciler and the jobs page find it by this."""
    return f"mail-{outbox_id}"  # RQ 3 job ids allow letters, digits, _ and - only


def retry_intervals(app=None):
    """MAIL_RETRY_INTERVALS as a list of seconds."""
    raw = (app or current_app).config["MAIL_RETRY_INTERVALS"]
    return [int(part) for part in str(raw).split(",") if part.strip()]


# Mail that may go to an address even when a contact with it asked not to be emailed
# (docs/decisions/0020-trust-and-safety.md): mail to a staff account, the admin's test
# mail, and the join confirmation (sent to whoever typed the address, the same whether or
# not the person is known, before any lookup; decision 0017).
EXEMPT = frozenset({"staff_account", "system_test", "join_confirmation"})
# The same, by Outbox.kind: the send job re-checks every other kind before sending.
EXEMPT_KINDS = frozenset({"join_confirm", "followup_reminder", "followup_digest", "followup_summary",
                          "system.test", "access_alert"})


class DoNotEmail(ServiceError):
    """The recipient is a contact marked do not email: nothing was queued (audited)."""


def do_not_email(address):
    """True when a contact with exactly this email address is marked do not email.

    Only contacts that carry the flag are decrypted to drop blind-index collisions.
    """
    from ..models import Contact
    from . import lookup

    return bool(lookup.find_by_email(address, where=Contact.do_not_email.is_(True)))


def gate(to, kind, exempt=None):
    """The one check before any mail is stored: refuse a do-not-email contact's address."""
    if exempt is not None:
        if exempt not in EXEMPT:
            raise ValueError(f"unknown mail exemption {exempt!r}")
        return
    if do_not_email(to):
        audit.record("mail.refused", "outbox", None, kind=kind, reason="do_not_email")
        db.session.flush()
        raise DoNotEmail(_l("This person asked not to be emailed; no mail was queued."))


def queue_mail(*, key, kind, to, template, locale=DEFAULT_LOCALE, context=None, exempt=None):
    """Store one message under idempotency ``key`` and queue its job after the commit.

    Returns the Outbox id, or None when a message with ``key`` already exists.
    Raises ``DoNotEmail`` when ``to`` is the address of a contact marked do not
    email, unless ``exempt`` names one of ``EXEMPT``.
    The caller commits (or rolls back: then neither row nor job exist).
    """
    session = db.session
    if session.scalar(select(Outbox.id).where(Outbox.idempotency_key == key)) is not None:
        return None
    if not to or "@" not in str(to):
        raise ValueError("queue_mail needs a recipient address")
    gate(to, kind, exempt)
    locale = locale if locale in LANGUAGES else DEFAULT_LOCALE
    subject, text, html = render_mail(template, locale, context or {})
    row_id = uuid.uuid4()
    values = dict(
        id=row_id, idempotency_key=key, kind=kind, template=template, locale=locale, status="pending",
        attempts=0, created_at=utcnow(),
        recipient_ct=_sealed(Outbox.recipient, row_id, to), subject_ct=_sealed(Outbox.subject, row_id, subject),
        body_ct=_sealed(Outbox.body, row_id, text), html_ct=_sealed(Outbox.html, row_id, html),
    )
    # INSERT .. ON CONFLICT DO NOTHING: a concurrent twin with the same key loses quietly,
    # without a savepoint (SQLite's driver would commit one) or an error in the caller's transaction.
    table = Outbox.__table__
    insert = _insert_for(session)(table).values(**values).on_conflict_do_nothing(
        index_elements=["idempotency_key"]).returning(table.c.id)
    if session.execute(insert).scalar() is None:
        return None
    enqueue_send(row_id)
    return row_id


def _sealed(attribute, row_id, value):
    return attribute.seal(row_id, attribute.clean(value))


def _insert_for(session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def enqueue_send(outbox_id, now=False, app=None):
    """Queue the send job (after the commit, or at once with ``now``)."""
    app = app or current_app._get_current_object()
    intervals = retry_intervals(app)
    options = dict(queue=MAIL_QUEUE, job_id=job_id_for(outbox_id), retries=len(intervals),
                   retry_intervals=intervals)
    if now:
        return jobs.enqueue_now(JOB_NAME, outbox_id, app=app, **options)
    return jobs.enqueue(JOB_NAME, outbox_id, **options)


def render_mail(template, locale, context):
    """(subject, text, html) of ``template`` in ``locale``: the admin's wording if any."""
    override = mail_templates.current_override(template, locale)
    # The template's own domain wins where two domains word the same msgid differently.
    with force_locale(locale), preferring(area_of_path(mail_templates.file_name(template, "text"))):
        subject = _part(template, "subject", context, override)
        text = _part(template, "text", context, override)
        html = _part(template, "html", context, override)
    if subject is None or text is None:
        raise MailTemplateMissing(f"mail template {template!r} needs .subject.txt and .txt")
    if html is None:
        html = text_as_html(text)
    return one_line(subject), text.strip() + "\n", html


def _part(template, part, context, override):
    if override is not None and getattr(override, part):
        try:
            return mail_templates.render_string(getattr(override, part), context, html=part == "html")
        except Exception as exc:  # noqa: BLE001 - an admin's edit must not stop the mail: use the file
            log.warning("mail template %s/%s v%s failed (%s); using the default wording",
                        template, override.locale, override.version, type(exc).__name__)
    try:
        return render_template(mail_templates.file_name(template, part), **context)
    except TemplateNotFound:
        return None


def one_line(text):
    """A header value: one line, no control characters, at most 200 characters."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()[:200]


def text_as_html(text):
    """A plain HTML part for a template that has only a text part."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    body = "".join(f"<p>{escape(p)}</p>".replace("\n", "<br>\n") for p in paragraphs)
    return f"<!doctype html>\n<html><body>{body}</body></html>\n"


def outbox_id(value):
    """A UUID from a job argument (JSON carries it as text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
