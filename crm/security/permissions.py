"""Who may do what, and see which rows: the one place that decides.

Three roles grant permissions; a separate flag, the restricted-path clearance,
decides whether ``reserve_training`` and ``combat_service`` exist for a user at
all. Without it those path choices, their follow-ups and every clearance-only
contact (only restricted paths, an active restricted path, or relatives at
risk at home: ``needs_clearance``) are invisible everywhere: the query helpers below
filter lists, searches, counts and exports alike, and ``can`` answers the same
for one loaded object. ``staff`` see only the contacts assigned to them.

Views ask ``can``/``require``/``load_visible``; services take the acting user
and ask the same functions, so CLI commands and jobs are held to the same rules.
An object a user may not see is reported as missing (``NotFound`` -> 404), so
that a guessed id tells nothing about whether it exists.
"""
import functools
import uuid

from sqlalchemy import and_, false, or_, select, true

from ..errors import NotFound
from ..models import Contact, FollowUp, PathChoice, User
from ..models.enums import RESTRICTED_PATHS, ROLES

CLEARANCE = "paths.restricted"

_STAFF = frozenset({
    "contacts.view", "contacts.edit", "followups.work", "meetings.view",
})
_COORDINATOR = _STAFF | {
    "contacts.view_all", "contacts.assign", "contacts.create", "contacts.export",
    "followups.manage", "meetings.manage", "triage.work", "imports.run", "reports.view",
}
_ADMIN = _COORDINATOR | {"users.manage", "contacts.erase", "audit.view", "keys.manage", "jobs.view", "rules.manage"}
# A second admin approves a large export (crm/services/exports.py).
_ADMIN = _ADMIN | {"exports.approve"}

ROLE_PERMISSIONS = {"staff": _STAFF, "coordinator": _COORDINATOR, "admin": _ADMIN}
PERMISSIONS = frozenset(_ADMIN | {CLEARANCE})
assert set(ROLE_PERMISSIONS) == set(ROLES)


def is_actor(user):
    """True for a signed-in, active account with a known role."""
    if user is None or getattr(user, "is_anonymous", False):
        return False
    return bool(getattr(user, "active", False)) and getattr(user, "role", None) in ROLE_PERMISSIONS


def has_clearance(user):
    return is_actor(user) and bool(user.restricted_clearance)


def _granted(user, permission):
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if not is_actor(user):
        return False
    if permission == CLEARANCE:
        return bool(user.restricted_clearance)
    return permission in ROLE_PERMISSIONS[user.role]


def can(user, permission, obj=None):
    """May ``user`` exercise ``permission`` (on ``obj``, when one is given)?"""
    if not _granted(user, permission):
        return False
    if obj is None:
        return True
    return visible(user, obj)


def visible(user, obj):
    """May ``user`` know that ``obj`` exists (a Contact, PathChoice, FollowUp or User)?"""
    if isinstance(obj, Contact):
        return _contact_visible(user, obj)
    if isinstance(obj, PathChoice):
        return _path_allowed(user, obj.path) and _contact_visible(user, obj.contact)
    if isinstance(obj, FollowUp):
        return _path_allowed(user, obj.path) and _contact_visible(user, obj.contact)
    if isinstance(obj, User):
        return is_actor(user) and (obj.id == user.id or _granted(user, "users.manage"))
    raise TypeError(f"no visibility rule for {type(obj).__name__}")


def _path_allowed(user, path):
    return path is None or path not in RESTRICTED_PATHS or has_clearance(user)


def _contact_visible(user, contact):
    if contact is None or not _granted(user, "contacts.view"):
        return False
    if contact.archived_at is not None:
        return False  # archived by retention: only the retention page lists it
    if not _granted(user, "contacts.view_all") and contact.assignee_id != user.id:
        return False
    if contact.trust_level == "unverified" and not _granted(user, "contacts.view_all"):
        return False  # quarantine: only coordinators and admins see an unverified contact
    if has_clearance(user):
        return True
    # From the loaded rows rather than the stored flag: if the flag were ever wrong, the two
    # would disagree in the safe direction (a listed contact whose page is a 404).
    return not needs_clearance(((c.path, c.stage) for c in contact.paths), contact.relatives_at_risk)


def needs_clearance(path_stages, relatives_at_risk=False):
    """Is a contact with these (path, stage) pairs readable only with clearance?

    Yes when relatives are at risk at home, when every path is restricted (a contact
    with no path reveals nothing), or when a restricted path is ``active``: then the
    person serves and their whole record is the most dangerous one. Stored as
    ``Contact.clearance_only`` by crm.services.contacts (docs/decisions/0021-two-person-rule.md).
    """
    pairs = list(path_stages)
    paths = {path for path, _ in pairs}
    return (bool(relatives_at_risk) or (bool(paths) and paths <= RESTRICTED_PATHS)
            or any(path in RESTRICTED_PATHS and stage == "active" for path, stage in pairs))


def visible_paths(user, contact):
    """The path choices of a (visible) contact that ``user`` may see."""
    return [choice for choice in contact.paths if _path_allowed(user, choice.path)]


# --- query helpers: add the same rules to a SELECT --------------------------------

def contact_clause(user, include_archived=False):
    """A WHERE clause on ``Contact`` keeping the rows ``user`` may see.

    Contacts archived by retention are hidden from everyone; only the retention page
    (crm/services/retention.py) passes ``include_archived``.
    """
    if not _granted(user, "contacts.view"):
        return false()
    clauses = [] if include_archived else [Contact.archived_at.is_(None)]
    if not _granted(user, "contacts.view_all"):
        clauses.append(Contact.assignee_id == user.id)
        # Quarantine (docs/decisions/0020-trust-and-safety.md): unverified contacts are for
        # coordinators and admins only, even when assigned.
        clauses.append(Contact.trust_level != "unverified")
    if not has_clearance(user):
        # needs_clearance(), stored: kept by crm.services.contacts whenever paths, stages or
        # the relatives-at-risk flag change (update_clearance, refresh_visibility).
        clauses.append(Contact.clearance_only == false())
    return and_(true(), *clauses)


def _visible_contact_ids(user):
    return select(Contact.id).where(contact_clause(user))


def path_clause(column, user):
    """A WHERE clause on a path ``column`` keeping the paths ``user`` may see (NULL: no path)."""
    if has_clearance(user):
        return true()
    return or_(column.is_(None), column.not_in(RESTRICTED_PATHS))


def visible_contacts(stmt, user):
    """``stmt`` (selecting from Contact) narrowed to the contacts ``user`` may see."""
    return stmt.where(contact_clause(user))


def visible_path_choices(stmt, user):
    """``stmt`` (selecting from PathChoice) narrowed to what ``user`` may see."""
    return stmt.where(path_clause(PathChoice.path, user),
                      PathChoice.contact_id.in_(_visible_contact_ids(user)))


def visible_followups(stmt, user):
    """``stmt`` (selecting from FollowUp) narrowed to what ``user`` may see."""
    return stmt.where(path_clause(FollowUp.path, user),
                      FollowUp.contact_id.in_(_visible_contact_ids(user)))


def load_visible(session, model, object_id, user, permission=None):
    """The ``model`` row with ``object_id`` if ``user`` may see it; else ``NotFound``.

    A malformed id, a missing row and a row hidden from ``user`` all raise the
    same ``NotFound``, so the answer leaks nothing.
    """
    try:
        key = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("not found") from None
    obj = session.get(model, key)
    if obj is None or not visible(user, obj) or (permission and not _granted(user, permission)):
        raise NotFound("not found")
    return obj


# --- web side ---------------------------------------------------------------------

def current_actor():
    """The signed-in, active user of this request, or None."""
    try:
        from flask_login import current_user
    except ImportError:  # pragma: no cover - flask-login is a pinned dependency
        return None
    try:
        user = current_user._get_current_object()
    except (AttributeError, RuntimeError):
        # No login manager bound yet, or no request: nobody is signed in.
        return None
    return user if is_actor(user) else None


def require(permission):
    """View decorator: anonymous -> sign-in, signed in without ``permission`` -> 403."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            from .route_matrix import deny

            user = current_actor()
            if user is None:
                return deny(signed_in=False)
            if not can(user, permission):
                return deny(signed_in=True)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorate
