"""Second factor: TOTP enrolment and checks, single-use recovery codes.

A TOTP code is accepted once: the accepted time step is stored on the user and
only a later step is accepted next time, so a code seen over a shoulder or in a
proxy log cannot be replayed inside its 30-second window. Services only flush.
"""
import hashlib
import hmac
import re
import secrets

import pyotp
import segno
from sqlalchemy import delete, select

from ..extensions import db
from ..models import RecoveryCode
from ..security import audit
from . import sessions

ISSUER = "Muster"
STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes
_RECOVERY_LENGTH = 16  # 31^16 ≈ 2^79
TOTP_PATTERN = re.compile(r"^[0-9]{6}$")


def _normalise_code(code):
    return re.sub(r"[\s-]", "", code or "").lower()


def looks_like_totp(code):
    return bool(TOTP_PATTERN.match(_normalise_code(code)))


def looks_like_recovery_code(code):
    code = _normalise_code(code)
    return len(code) == _RECOVERY_LENGTH and all(ch in _RECOVERY_ALPHABET for ch in code)


def _step(moment=None):
    return int((moment or sessions.now()).timestamp()) // STEP_SECONDS


def check_totp(user, code, secret=None):
    """True if ``code`` is valid now (±1 step) and newer than the last one accepted.

    On success the step is remembered, so the same code is refused afterwards.
    ``secret`` overrides the enrolled one (while confirming an enrolment).
    """
    secret = secret or user.totp_secret
    code = _normalise_code(code)
    if not secret or not isinstance(secret, str) or not TOTP_PATTERN.match(code):
        return False
    totp = pyotp.TOTP(secret)
    current = _step()
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                audit.record("auth.totp.replay", "user", user.id)
                return False
            user.totp_last_step = step
            db.session.flush()
            return True
    return False


def new_secret():
    return pyotp.random_base32()


def provisioning(user, secret):
    """(otpauth URI, QR code as an SVG data URI) for an authenticator app; no network."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.login, issuer_name=ISSUER)
    qr = segno.make(uri, error="m")
    return uri, qr.svg_data_uri(scale=5, border=2)


def pending_secret(user):
    """The secret being enrolled: kept on the user until the first code confirms it."""
    if user.totp_enabled:
        raise ValueError("TOTP is already enrolled")
    if not user.totp_secret or not isinstance(user.totp_secret, str):
        user.totp_secret = new_secret()
        user.totp_last_step = None
        db.session.flush()
    return user.totp_secret


def confirm_enrolment(user, code):
    """Enable TOTP if ``code`` matches the pending secret; returns fresh recovery codes or None."""
    if user.totp_enabled or not check_totp(user, code, secret=user.totp_secret):
        return None
    user.totp_enabled_at = sessions.now()
    codes = replace_recovery_codes(user)
    audit.record("auth.totp.enrol", "user", user.id)
    return codes


def _digest(code):
    return hashlib.sha256(_normalise_code(code).encode()).hexdigest()


def replace_recovery_codes(user):
    """Drop the user's recovery codes and make ten new ones; returns them (shown once)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_digest(raw)))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    audit.record("auth.recovery_codes.replace", "user", user.id, count=RECOVERY_CODE_COUNT)
    db.session.flush()
    return codes


def use_recovery_code(user, code):
    """Spend one recovery code; True if it was valid and unused."""
    if not looks_like_recovery_code(code):
        return False
    row = db.session.scalar(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _digest(code),
        RecoveryCode.used_at.is_(None)))
    if row is None:
        return False
    left = remaining_recovery_codes(user) - 1
    row.used_at = sessions.now()
    audit.record("auth.recovery_code.use", "user", user.id, remaining=left)
    db.session.flush()
    return True


def remaining_recovery_codes(user):
    return len(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all())


def clear(user):
    """Forget the user's TOTP secret and recovery codes (enrolment starts again)."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()
