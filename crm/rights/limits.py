"""Rate-limit keys of the "my data" page: per client address and per email index.

Both keys are computed on every POST, so asking about a known and an unknown
address costs the same hashing. The email key is the address's blind-index
token (a truncated HMAC, as in ``contact_index``): Redis never holds the address,
and an erasure can find and delete these counters (``erasure_redis``).
"""
from flask import request

from ..auth.views import client_key
from ..security import blind_index
from ..security.crypto import crypto

__all__ = ["client_key", "email_key"]


def email_key():
    """``rights-email-<token>/``; an unusable address shares one bucket."""
    raw = request.form.get("email", "")
    tokens = crypto().indexer.tokens(blind_index.EMAIL, raw) if isinstance(raw, str) else set()
    token = min(tokens) if tokens else "none"
    return f"rights-email-{token}/"
