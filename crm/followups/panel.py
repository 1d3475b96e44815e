"""The contact page's follow-up list, made actionable: rows, who may act, the new follow-up form."""
from flask_wtf.csrf import generate_csrf

from ..contacts.labels import options
from ..security import permissions
from ..security.permissions import can, current_actor
from ..services import followups
from . import labels
from .forms import CreateForm


def contact_panel(contact):
    """What ``templates/followups/_contact_panel.html`` needs for ``contact`` (already visible)."""
    from .views import _assignee_choices

    user = current_actor()
    rows = followups.contact_followups(contact, user)
    manage = can(user, "followups.manage")
    form = None
    if can(user, "followups.work"):
        form = CreateForm(formdata=None)
        choices = permissions.visible_paths(user, contact)
        form.path.choices = options([("", "—")] + [(c.path, c.path) for c in choices])
        form.assignee.choices = options([("", user.login)] + [c for c in _assignee_choices() if c[0] != str(user.id)]
                                        if manage else [("", user.login)])
    return {
        "rows": [f for f, _ in rows],
        "actable": {f.id for f, may in rows if may},
        "controls": {"csrf": generate_csrf(), "labels": labels.resolved(), "manage": manage,
                     "assignees": _assignee_choices() if manage else []},
        "form": form,
    }
