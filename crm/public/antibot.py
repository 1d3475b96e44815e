"""Cheap defences against form-filling bots: a honeypot, a minimum fill time, a per-email limit.

The fill-time token is the time the form was served, signed with the app's secret,
so a bot cannot forge an older one. The per-email limit is keyed by the email's
truncated blind-index token: Redis never holds an address, and one key stands for
many addresses (about 1 in 16,000 share it), which is what a limit needs and no more.
"""
import time

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from limits import parse_many

from ..extensions import limiter
from ..security import blind_index
from ..security.crypto import crypto

SALT = "muster-join-started"
MAX_FORM_AGE = 24 * 3600


def _serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def fill_token(at=None):
    """A signed token holding the time the form was served (``at``, Unix seconds)."""
    return _serializer().dumps(int(at if at is not None else time.time()))


def filled_in_time(token, now=None):
    """True when the form came back no sooner than the minimum and within a day."""
    try:
        started = _serializer().loads(token or "")
    except BadSignature:
        return False
    if not isinstance(started, int) or isinstance(started, bool):
        return False
    elapsed = (now if now is not None else time.time()) - started
    return current_app.config["JOIN_MIN_FILL_SECONDS"] <= elapsed <= MAX_FORM_AGE


def email_allowed(email):
    """Count one submission for this email's index token; False once over RATELIMIT_JOIN_EMAIL."""
    tokens = crypto().indexer.tokens(blind_index.EMAIL, email or "")
    bucket = str(min(tokens)) if tokens else "invalid"
    allowed = True
    for item in parse_many(current_app.config["RATELIMIT_JOIN_EMAIL"]):
        # Every window is counted (no short-circuit), so each submission costs the same.
        # Key shape ".../join/email-<token>/...": erasure finds a person's counters by it.
        allowed = limiter.limiter.hit(item, "join", f"email-{bucket}") and allowed
    return allowed
