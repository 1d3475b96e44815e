"""Signing staff in: passwords, lockout, the second factor, and account admin actions.

Failures never say which part was wrong (unknown login, wrong password, locked
account all read the same to the person signing in); the audit log tells
admins what happened, without the typed login or any other personal data.
Services only flush; the request or CLI command commits.
"""
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from zxcvbn import zxcvbn

from ..errors import NotFound
from ..extensions import db
from ..models import User, UserSession
from ..security import audit
from ..security.passwords import hash_password, hasher, needs_rehash, verify_password
from . import sessions, totp
from .contacts import ValidationError
from .users import LOGIN_MAX, validate_login

PASSWORD_MAX = 128  # zxcvbn and argon2 both slow down on huge inputs
_dummy_hashes = {}


@dataclass(frozen=True)
class SignIn:
    """The outcome of the password step: the user, and the stage the session starts at."""

    user: User
    stage: str


def _dummy_hash():
    # Verifying against a throwaway hash makes unknown logins cost as much as real ones.
    key = id(hasher())
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hash_password("not-a-real-password-" + str(key))
    return _dummy_hashes[key]


def _find_user(login):
    try:
        login = validate_login(login)
    except ValidationError:
        return None
    return db.session.scalar(select(User).where(User.login == login))


def is_locked(user):
    return user.locked_until is not None and sessions.aware(user.locked_until) > sessions.now()


def record_failure(user, reason):
    """Count a failed password or code; lock the account when the threshold is reached."""
    user.failed_logins = (user.failed_logins or 0) + 1
    audit.record("auth.login.failed", "user", user.id, reason=reason)
    if user.failed_logins >= current_app.config["LOCKOUT_THRESHOLD"]:
        minutes = current_app.config["LOCKOUT_MINUTES"]
        user.locked_until = sessions.now() + timedelta(minutes=minutes)
        user.failed_logins = 0
        audit.record("auth.login.locked", "user", user.id, minutes=minutes)
    db.session.flush()


def next_stage(user):
    """Where a half-finished sign-in goes next."""
    if user.must_change_password:
        return "change_password"
    if not user.totp_enabled:
        return "enrol"
    return "totp"


def check_password(login, password):
    """The password step: a SignIn, or None for every kind of failure (same answer)."""
    if not isinstance(password, str) or len(password) > PASSWORD_MAX:
        password = ""
    user = _find_user(login) if isinstance(login, str) and len(login) <= LOGIN_MAX else None
    if user is None:
        verify_password(_dummy_hash(), password)
        audit.record("auth.login.failed", reason="unknown")
        return None
    if not user.active:
        verify_password(_dummy_hash(), password)
        audit.record("auth.login.failed", "user", user.id, reason="disabled")
        return None
    if is_locked(user):
        verify_password(_dummy_hash(), password)
        audit.record("auth.login.failed", "user", user.id, reason="locked")
        return None
    refused = _refusal(user)
    if refused:
        # Suspended (access alerts) or a non-admin during a lockdown: the same neutral answer.
        verify_password(_dummy_hash(), password)
        audit.record("auth.login.failed", "user", user.id, reason=refused)
        return None
    if not verify_password(user.password_hash, password):
        record_failure(user, "password")
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.session.flush()
    return SignIn(user, next_stage(user))


def _refusal(user):
    """Why ``user`` may not sign in now, beyond password and lock: 'suspended', 'lockdown' or None."""
    from . import lockdown

    if user.suspended_at is not None:
        return "suspended"
    if not lockdown.may_sign_in(user):
        return "lockdown"
    return None


def record_malformed():
    """A sign-in form that did not validate (empty, overlong): audited, nothing else."""
    audit.record("auth.login.failed", reason="malformed")


def check_second_factor(user, code):
    """A TOTP code or an unused recovery code; failures count toward the lockout."""
    if not user.active or is_locked(user) or _refusal(user):
        reason = _refusal(user) or ("locked" if user.active else "disabled")
        audit.record("auth.login.failed", "user", user.id, reason=reason)
        return False
    code = code if isinstance(code, str) and len(code) <= 64 else ""
    if totp.check_totp(user, code) or totp.use_recovery_code(user, code):
        return True
    record_failure(user, "code")
    return False


def signed_in(user):
    """The sign-in finished (both factors): reset counters and record it."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = sessions.now()
    audit.record("auth.login.ok", "user", user.id)
    db.session.flush()


def password_problems(password, login=""):
    """Why ``password`` is refused (None if it is fine): length and a zxcvbn estimate."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if not isinstance(password, str) or len(password) < minimum:
        return _l("Use at least %(num)d characters.", num=minimum)
    if len(password) > PASSWORD_MAX:
        return _l("Use at most %(num)d characters.", num=PASSWORD_MAX)
    result = zxcvbn(password, user_inputs=[login, "muster"])
    if result["score"] < current_app.config["PASSWORD_MIN_SCORE"]:
        # zxcvbn's own hint is English only: other languages get the general advice.
        return _l("This password is too easy to guess. Try a longer phrase of unrelated words.")
    return None


def change_password(user, new_password, current_password=None, keep=None):
    """Set a new password (checking the current one if given); ends the user's other sessions."""
    if current_password is not None and not verify_password(user.password_hash, current_password):
        record_failure(user, "reauth")
        raise ValidationError({"current_password": _l("The current password is not right.")})
    problem = password_problems(new_password, user.login)
    if problem:
        raise ValidationError({"new_password": problem})
    if verify_password(user.password_hash, new_password):
        raise ValidationError({"new_password": _l("Choose a password different from the current one.")})
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.password_changed_at = sessions.now()
    audit.record("auth.password.change", "user", user.id)
    sessions.end_sessions(user.id, reason="password_changed", keep=keep)


def restart_totp(user, password, code, keep):
    """Re-authenticate (password and a current code), then drop TOTP so it is enrolled anew.

    Other sessions end; ``keep`` (this browser) goes back to the enrolment stage.
    """
    ok_password = verify_password(user.password_hash, password or "")
    ok_code = totp.check_totp(user, code or "")
    if not (ok_password and ok_code):
        record_failure(user, "reauth")
        raise ValidationError({"password": _l("The password or the code is not right.")})
    totp.clear(user)
    audit.record("auth.totp.reset", "user", user.id, by="self")
    sessions.end_sessions(user.id, reason="totp_reset", keep=keep)
    return sessions.advance(keep, "enrol")


def _user(user_id):
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def unlock_user(user_id):
    """Admin: lift a lockout now."""
    user = _user(user_id)
    user.locked_until = None
    user.failed_logins = 0
    audit.record("auth.user.unlock", "user", user.id)
    db.session.flush()
    return user


def reset_totp(user_id):
    """Admin: forget the TOTP secret and recovery codes; the next sign-in enrols again."""
    user = _user(user_id)
    totp.clear(user)
    audit.record("auth.totp.reset", "user", user.id, by="admin")
    sessions.end_sessions(user.id, reason="totp_reset")
    return user


def disable_user(user_id):
    """Admin: disable an account and end its sessions at once."""
    user = _user(user_id)
    user.active = False
    audit.record("auth.user.disable", "user", user.id)
    sessions.end_sessions(user.id, reason="disabled")
    return user


def enable_user(user_id):
    """Admin: enable a disabled account again."""
    user = _user(user_id)
    user.active = True
    audit.record("auth.user.enable", "user", user.id)
    db.session.flush()
    return user


def end_sessions(user_id, actor_id=None):
    """Admin or self: sign a user out everywhere; returns how many sessions ended."""
    _user(user_id)
    return sessions.end_sessions(user_id, actor_id=actor_id, reason="revoked")


def user_by_login(login):
    """The account with this login name, or ``NotFound`` (for operator commands)."""
    user = _find_user(login)
    if user is None:
        raise NotFound(f"no account with the login {login!r}")
    return user


@dataclass(frozen=True)
class AccountState:
    """One line of ``flask crm users list``: no personal data, only account state."""

    user: User
    locked: bool
    live_sessions: int


def account_states():
    """Every account with its lock and session state, by login."""
    counts = dict(db.session.execute(
        select(UserSession.user_id, func.count(UserSession.id))
        .where(UserSession.ended_at.is_(None), UserSession.stage == "full")
        .group_by(UserSession.user_id)).all())
    users = db.session.scalars(select(User).order_by(User.login)).all()
    return [AccountState(u, is_locked(u), counts.get(u.id, 0)) for u in users]
