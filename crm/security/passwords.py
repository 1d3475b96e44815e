"""Password hashing with argon2id (parameters: docs/decisions/0002-argon2id.md)."""
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

# RFC 9106's second recommended profile: argon2id, t=3, m=64 MiB, p=4.
PRODUCTION_PROFILE = profiles.RFC_9106_LOW_MEMORY
# Tests only: the same algorithm with a small cost, so a suite of sign-ins stays fast.
TEST_PROFILE = profiles.CHEAPEST

_hashers = {}


def hasher():
    name = "test" if current_app.config.get("TESTING") else "production"
    if name not in _hashers:
        _hashers[name] = PasswordHasher.from_parameters(
            TEST_PROFILE if name == "test" else PRODUCTION_PROFILE
        )
    return _hashers[name]


def hash_password(password):
    return hasher().hash(password)


def verify_password(stored_hash, password):
    """True if ``password`` matches; never raises on a malformed hash."""
    try:
        return hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash):
    return hasher().check_needs_rehash(stored_hash)


def one_time_password():
    """A random first password (must be changed at first sign-in)."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(4))
