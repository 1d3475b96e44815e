"""Creating and managing staff accounts."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..errors import NotFound, ServiceError
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
        raise ValidationError({"login": _l("is required")})
    if len(login) > LOGIN_MAX or not all(ch.isalnum() or ch in "._-" for ch in login):
        raise ValidationError({"login": _l("use up to %(num)d letters, digits, dots, dashes or underscores", num=LOGIN_MAX)})
    return login


def create_user(login, role, clearance=False, actor_id=None):
    """Create a staff account; return it with its one-time password."""
    login = validate_login(login)
    if role not in ROLES:
        raise ValidationError({"role": f"must be one of {', '.join(ROLES)}"})
    if db.session.scalar(select(User.id).where(User.login == login)):
        raise ServiceError(_l("the login %(login)s is taken", login=repr(login)))
    password = one_time_password()
    user = User(login=login, role=role, restricted_clearance=clearance,
                password_hash=hash_password(password), must_change_password=True)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, role=role, clearance=clearance)
    return user, password


def get_user(user_id):
    """The account with ``user_id``, or ``NotFound``."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def list_users():
    """Every account, by login (admins see all; nothing personal is stored on them)."""
    return list(db.session.scalars(select(User).order_by(User.login)))


def _other_active_admins(user):
    return db.session.scalar(
        select(func.count(User.id)).where(User.role == "admin", User.active.is_(True), User.id != user.id)
    ) or 0


def change_access(user_id, role, clearance):
    """Set an account's role and restricted-path clearance; each change is audited.

    The last active admin cannot be demoted, so the system always has someone
    who can manage accounts. Returns the names of what changed.
    """
    if role not in ROLES:
        raise ValidationError({"role": f"must be one of {', '.join(ROLES)}"})
    user = get_user(user_id)
    changed = []
    if role != user.role:
        if user.role == "admin" and user.active and not _other_active_admins(user):
            raise ServiceError(_l("this is the last active admin: make another admin first"))
        audit.record("user.role", "user", user.id, from_role=user.role, to_role=role)
        user.role = role
        changed.append("role")
    if bool(clearance) != bool(user.restricted_clearance):
        audit.record("user.clearance", "user", user.id, granted=bool(clearance))
        user.restricted_clearance = bool(clearance)
        changed.append("clearance")
    db.session.flush()
    return changed

