"""Send one Outbox message, at most once per claim, with a clear verdict for RQ.

The protocol (docs/decisions/0010-mail-delivery.md):

1. Open the SMTP connection (nothing is claimed yet: a refused connection only
   means "try later").
2. Claim the row: one conditional UPDATE pending -> sending with a fresh
   ``claim_token``, committed. A second job for the same row finds no pending row
   and stops; a claim older than the lease whose DATA never began may be taken over.
3. MAIL FROM / RCPT TO, then record ``data_started_at`` (committed, and only if
   our token still holds), then DATA.
4. Mark ``sent`` (only with our token).

A worker killed before step 3's record leaves a claim that is safely taken over;
killed after it, the row is "in doubt" (the server may have the message) and is
marked failed for an admin to resend, never resent on its own. Errors raise
``TransientMailError`` (RQ retries later) or ``PermanentMailError`` (the row is
failed, the job lands in the failed registry); their messages hold an error
class and SMTP code only, never an address.
"""
import os
import smtplib
import ssl
import tempfile
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from flask import current_app
from sqlalchemy import and_, or_, update

from ..extensions import db
from ..models import Outbox
from ..models.base import utcnow
from ..security import audit
from . import mail


class MailError(Exception):
    """Base: ``code`` is a short, PII-free reason such as ``smtp-451``."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class TransientMailError(MailError):
    """Try again later (SMTP 4xx, refused or timed-out connection)."""


class PermanentMailError(MailError):
    """Will never work as it is (SMTP 5xx, a bad address); the row is failed."""


class InDoubt(MailError):
    """The connection broke during DATA: the server may or may not have the message."""


def message_id(row, sender):
    """The same Message-ID on every attempt, so a duplicate can be recognised."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{row.id}@{domain}>"


def build_message(row, config):
    """A MIME message with a plain-text and an HTML part."""
    sender = config["MAIL_DEFAULT_SENDER"]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(row.recipient)
    msg["Subject"] = str(row.subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(row, sender)
    msg.set_content(str(row.body))
    msg.add_alternative(str(row.html), subtype="html")
    return msg


# --- backends: open() -> connection with envelope(sender, rcpt), data(msg), close() ---

class FileBackend:
    """Development: one .eml file per message under instance/outbox/ (admins read them in the app)."""

    def __init__(self, config):
        self.folder = os.path.join(config["INSTANCE_DIR"], "outbox")

    def envelope(self, sender, recipient):
        os.makedirs(self.folder, mode=0o700, exist_ok=True)

    def data(self, msg, outbox_id):
        final = os.path.join(self.folder, f"{outbox_id}.eml")
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(bytes(msg))
        os.replace(tmp, final)  # a resend overwrites: one file per message

    def close(self):
        pass


class SmtpBackend:
    """Production: one SMTP connection per job, STARTTLS or SSL and login as configured."""

    def __init__(self, config):
        host, port, timeout = config["MAIL_SERVER"], int(config["MAIL_PORT"]), config["MAIL_TIMEOUT"]
        try:
            if config["MAIL_USE_SSL"]:
                self.smtp = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                             context=ssl.create_default_context())
            else:
                self.smtp = smtplib.SMTP(host, port, timeout=timeout)
                if config["MAIL_USE_STARTTLS"]:
                    self.smtp.starttls(context=ssl.create_default_context())
            self.smtp.ehlo_or_helo_if_needed()
            if config["MAIL_USERNAME"]:
                self.smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentMailError(f"smtp-auth-{exc.smtp_code}") from None
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, "connect") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientMailError(f"connect-{type(exc).__name__}") from None

    def envelope(self, sender, recipient):
        try:
            code, _ = self.smtp.mail(parseaddr(sender)[1])
            if code != 250:
                raise _classify(code, "mail")
            code, _ = self.smtp.rcpt(recipient)
            if code not in (250, 251):
                raise _classify(code, "rcpt")
        except smtplib.SMTPServerDisconnected:
            raise TransientMailError("smtp-disconnected") from None
        except (OSError, smtplib.SMTPException) as exc:
            if isinstance(exc, MailError):
                raise
            raise TransientMailError(f"smtp-{type(exc).__name__}") from None

    def data(self, msg, outbox_id):
        try:
            # CRLF line ends: smtplib sends bytes as given, and SMTP lines end in CRLF.
            code, _ = self.smtp.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        except smtplib.SMTPDataError as exc:
            raise _classify(exc.smtp_code, "data") from None
        except (OSError, smtplib.SMTPException):
            raise InDoubt("smtp-lost-during-data") from None
        if code != 250:
            raise _classify(code, "data")

    def close(self):
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()


def _classify(code, stage):
    reason = f"smtp-{code}-{stage}"
    if code is not None and 400 <= code < 500:
        return TransientMailError(reason)
    return PermanentMailError(reason)


BACKENDS = {"file": FileBackend, "smtp": SmtpBackend}


def open_backend(config):
    try:
        backend = BACKENDS[config["MAIL_BACKEND"]]
    except KeyError:
        raise PermanentMailError("unknown-backend") from None
    return backend(config)


# --- the claim protocol: each step one conditional UPDATE, committed ---

def _update(outbox_id, where, **values):
    result = db.session.execute(update(Outbox).where(Outbox.id == outbox_id, *where).values(**values)
                                .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def claim(outbox_id, lease_seconds):
    """Take the row for this job; returns the claim token or None."""
    token = str(uuid.uuid4())
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds)
    claimable = or_(Outbox.status == "pending",
                    and_(Outbox.status == "sending", Outbox.data_started_at.is_(None),
                         Outbox.claimed_at < stale))
    ok = _update(outbox_id, [claimable], status="sending", claim_token=token, claimed_at=now,
                 data_started_at=None, attempts=Outbox.attempts + 1)
    return token if ok else None


def _ours(token):
    return [Outbox.claim_token == token, Outbox.status == "sending"]


def start_data(outbox_id, token):
    return _update(outbox_id, _ours(token), data_started_at=utcnow())


def mark_sent(outbox_id, token):
    return _update(outbox_id, _ours(token), status="sent", sent_at=utcnow(), last_error=None)


def release(outbox_id, token, code):
    """Give the row back (a transient error): another attempt may claim it."""
    return _update(outbox_id, _ours(token), status="pending", claim_token=None, claimed_at=None,
                   data_started_at=None, last_error=code[:255])


def fail(outbox_id, token, code):
    return _update(outbox_id, _ours(token), status="failed", last_error=code[:255])


def fail_in_doubt(outbox_id, lease_seconds):
    """A claim that began DATA and went silent for a lease: failed, for an admin to decide."""
    stale = utcnow() - timedelta(seconds=lease_seconds)
    return _update(outbox_id, [Outbox.status == "sending", Outbox.data_started_at.is_not(None),
                               Outbox.claimed_at < stale],
                   status="failed", last_error="interrupted-during-send: may have been delivered")


def reset_for_resend(outbox_id):
    """An admin's resend: a failed row goes back to pending (flushed; the caller commits).

    For an in-doubt row this may deliver a second copy; the admin chose so.
    """
    result = db.session.execute(update(Outbox).where(Outbox.id == outbox_id, Outbox.status == "failed")
                                .values(status="pending", claim_token=None, claimed_at=None,
                                        data_started_at=None)
                                .execution_options(synchronize_session=False))
    return result.rowcount == 1


def deliver(outbox_id, last_attempt=True):
    """Send one message; returns a short verdict for the job result, or raises MailError."""
    config = current_app.config
    lease = config["MAIL_CLAIM_LEASE_SECONDS"]
    row = db.session.get(Outbox, outbox_id)
    if row is None:
        return "missing"
    if row.status in ("sent", "failed"):
        return f"already {row.status}"
    if row.status == "sending" and row.data_started_at is not None:
        return "in doubt: failed" if fail_in_doubt(outbox_id, lease) else "being sent by another job"
    msg = build_message(row, config)
    recipient = str(row.recipient)
    if row.kind not in mail.EXEMPT_KINDS and mail.do_not_email(recipient):
        # Queued before the person asked not to be emailed (or resent since): never sent.
        audit.record("mail.refused", "outbox", outbox_id, kind=row.kind, reason="do_not_email")
        db.session.flush()
        _update(outbox_id, [Outbox.status.in_(("pending", "sending"))], status="failed",
                last_error="do-not-email")
        return "refused: do not email"
    db.session.rollback()  # end the read transaction before the network
    try:
        backend = open_backend(config)
    except MailError as exc:
        if last_attempt or isinstance(exc, PermanentMailError):
            _update(outbox_id, [Outbox.status == "pending"], status="failed",
                    last_error=(exc.code if isinstance(exc, PermanentMailError) else f"gave-up-{exc.code}"))
        raise
    try:
        token = claim(outbox_id, lease)
        if token is None:
            return "claimed by another job"
        try:
            backend.envelope(config["MAIL_DEFAULT_SENDER"], recipient)
            if not start_data(outbox_id, token):
                return "taken over by another job"
            backend.data(msg, outbox_id)
        except InDoubt as exc:
            fail(outbox_id, token, f"{exc.code}: may have been delivered")
            raise PermanentMailError(exc.code) from None
        except TransientMailError as exc:
            if last_attempt:
                fail(outbox_id, token, f"gave-up-{exc.code}")
            else:
                release(outbox_id, token, exc.code)
            raise
        except PermanentMailError as exc:
            fail(outbox_id, token, exc.code)
            raise
        mark_sent(outbox_id, token)
        return "sent"
    finally:
        backend.close()
