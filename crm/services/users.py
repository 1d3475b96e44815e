"""Creating and managing staff accounts."""
from sqlalchemy import select

from ..errors import ServiceError
from ..extensions import db
from ..models import User
from ..models.enums import ROLES
from ..security import audit
from ..security.passwords import hash_password, one_time_password
from .contacts import ValidationError

LOGIN_MAX = 64


def validate_login(login):
    login = (login or "").strip()
    if not login:
        raise ValidationError({"login": "is required"})
    if len(login) > LOGIN_MAX or not all(ch.isalnum() or ch in "._-" for ch in login):
        raise ValidationError({"login": f"use up to {LOGIN_MAX} letters, digits, dots, dashes or underscores"})
    return login


def create_user(login, role, clearance=False, actor_id=None):
    """Create a staff account; return it with its one-time password."""
    login = validate_login(login)
    if role not in ROLES:
        raise ValidationError({"role": f"must be one of {', '.join(ROLES)}"})
    if db.session.scalar(select(User.id).where(User.login == login)):
        raise ServiceError(f"the login {login!r} is taken")
    password = one_time_password()
    user = User(login=login, role=role, restricted_clearance=clearance,
                password_hash=hash_password(password), must_change_password=True)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, role=role, clearance=clearance)
    return user, password
