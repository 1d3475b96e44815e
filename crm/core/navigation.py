"""What the base layout needs: the signed-in user, a ``can`` helper and the menu.

Templates never query; they get the acting user and a menu already filtered
by permission. A menu entry appears only when its endpoint exists in this app
(features arrive blueprint by blueprint) and the user passes its permission.
"""
from flask import current_app, request
from flask_babel import lazy_gettext as _l

from ..security import permissions
from ..security.route_matrix import PUBLIC, SIGNED_IN, requirement

MENU = (
    ("core.home", _l("Home")),
    ("meetings.index", _l("Meetings")),
    ("triage.index", _l("Triage")),
    ("duplicates.index", _l("Duplicates")),
    ("approvals.index", _l("Approvals")),
    ("signals.index", _l("Signals")),
    ("contacts.index", _l("Contacts")),
    ("exports.index", _l("Exports")),
    ("imports.index", _l("Imports")),
    ("followups.index", _l("Follow-ups")),
    ("reports.index", _l("Reports")),
    ("admin.users", _l("Users")),
    ("admin.audit", _l("Audit log")),
    ("retention.index", _l("Retention")),
    ("access.alerts", _l("Alerts")),
    ("ops.jobs", _l("Jobs")),
    ("ops.mail", _l("Mail")),
)

ROLE_LABELS = {"admin": _l("Administrator"), "coordinator": _l("Coordinator"), "staff": _l("Staff")}


def menu_for(user):
    """The menu entries ``user`` may open: (endpoint, label, is_current)."""
    if user is None:
        return []
    items = []
    for endpoint, label in MENU:
        needed = requirement(endpoint)
        if endpoint not in current_app.view_functions or needed is None or needed == PUBLIC:
            continue
        if needed == SIGNED_IN or permissions.can(user, needed):
            items.append((endpoint, label, request.endpoint == endpoint))
    return items


def _layout_context():
    actor = permissions.current_actor()
    return {
        "actor": actor,
        "can": lambda permission, obj=None: permissions.can(actor, permission, obj),
        "menu": menu_for(actor),
        "role_label": ROLE_LABELS.get(getattr(actor, "role", None), ""),
        "has_endpoint": lambda endpoint: endpoint in current_app.view_functions,
    }


def init_app(app):
    app.context_processor(_layout_context)
