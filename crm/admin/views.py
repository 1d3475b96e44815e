"""Admin pages: staff accounts (list, create, access, lock-outs, sessions) and the audit log.

Every change goes through a service that writes its audit event; the request
commits once. The route matrix already limits these endpoints to admins;
``require`` repeats the check at the view so a view moved elsewhere stays guarded.
"""
import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from ..errors import ServiceError
from ..security import audit as audit_trail
from ..security.permissions import current_actor, require
from ..services import audit_log, sessions
from ..services import auth as auth_service
from ..services import users as user_service
from ..services.contacts import ValidationError
from .forms import AccessForm, AuditFilterForm, ConfirmForm, DangerForm, NewUserForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@require("users.manage")
def users():
    """Every account with its role, clearance and state."""
    return render_template("admin/users.html", users=user_service.list_users(),
                           is_locked=auth_service.is_locked)


@bp.route("/users/new", methods=["GET", "POST"])
@require("users.manage")
def user_new():
    """Create an account; the one-time password is shown on this response only."""
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user, password = user_service.create_user(form.login.data, form.role.data, form.clearance.data)
        except ValidationError as exc:
            for name, message in exc.errors.items():
                getattr(form, name, form.login).errors.append(message)
        except ServiceError as exc:
            form.login.errors.append(str(exc))
        else:
            return render_template("admin/user_created.html", user=user, password=password)
    return render_template("admin/user_new.html", form=form), 400 if form.errors else 200


@bp.get("/users/<uuid:user_id>")
@require("users.manage")
def user_detail(user_id):
    """One account: change its access, lift a lock, reset its second factor, end sessions."""
    user = user_service.get_user(user_id)
    access = AccessForm(role=user.role, clearance=user.restricted_clearance)
    return render_template("admin/user_detail.html", user=user, access=access, confirm=ConfirmForm(),
                           danger={name: DangerForm(prefix=name, formdata=None) for name in DANGEROUS},
                           locked=auth_service.is_locked(user),
                           live_sessions=len(sessions.live_sessions(user.id)),
                           is_self=user.id == current_actor().id)


@bp.post("/users/<uuid:user_id>/access")
@require("users.manage")
def user_access(user_id):
    """Set role and restricted-path clearance (each change is audited)."""
    user = user_service.get_user(user_id)
    form = AccessForm()
    if not form.validate_on_submit():
        flash(_("Choose a valid role."), "error")
        return redirect(url_for("admin.user_detail", user_id=user.id))
    try:
        changed = user_service.change_access(user.id, form.role.data, form.clearance.data)
    except ServiceError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Access updated.") if changed else _("Nothing changed."))
    return redirect(url_for("admin.user_detail", user_id=user.id))


# Actions that need the box beside their button ticked (the form prefix of each).
DANGEROUS = ("disable", "totp", "sessions")


def _account_action(user_id, action, done_message, danger=None):
    user = user_service.get_user(user_id)
    form = DangerForm(prefix=danger) if danger else ConfirmForm()
    if form.validate_on_submit():
        action(user)
        flash(done_message)
    elif danger:
        flash(_("Nothing was done: tick the box beside the button to confirm."), "error")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.post("/users/<uuid:user_id>/disable")
@require("users.manage")
def user_disable(user_id):
    """Disable the account; its sessions end at once."""
    if user_id == current_actor().id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("admin.user_detail", user_id=user_id))
    return _account_action(user_id, lambda u: auth_service.disable_user(u.id), _("Account disabled."),
                           danger="disable")


@bp.post("/users/<uuid:user_id>/enable")
@require("users.manage")
def user_enable(user_id):
    return _account_action(user_id, lambda u: auth_service.enable_user(u.id), _("Account enabled."))


@bp.post("/users/<uuid:user_id>/unlock")
@require("users.manage")
def user_unlock(user_id):
    return _account_action(user_id, lambda u: auth_service.unlock_user(u.id), _("Account unlocked."))


@bp.post("/users/<uuid:user_id>/reset-totp")
@require("users.manage")
def user_reset_totp(user_id):
    """Forget the authenticator; the next sign-in enrols a new one."""
    return _account_action(user_id, lambda u: auth_service.reset_totp(u.id),
                           _("Second factor reset: the next sign-in sets up a new authenticator."),
                           danger="totp")


@bp.post("/users/<uuid:user_id>/end-sessions")
@require("users.manage")
def user_end_sessions(user_id):
    """Sign the account out everywhere (a lost laptop)."""
    actor = current_actor()
    return _account_action(user_id, lambda u: auth_service.end_sessions(u.id, actor_id=actor.id),
                           _("All sessions of this account have ended."), danger="sessions")


def _audit_filter(form):
    return audit_log.AuditFilter(
        actor_id=uuid.UUID(form.actor.data) if form.actor.data else None, action=(form.action.data or "").strip() or None,
        target_id=(form.target.data or "").strip() or None,
        since=form.since.data, until=form.until.data,
    )


@bp.get("/audit")
@require("audit.view")
def audit():
    """Browse the audit log, newest first; filters by actor, action, target and dates."""
    form = AuditFilterForm(request.args)
    accounts = user_service.list_users()
    form.actor.choices = [SelectChoice("", _("Anyone"))] + [SelectChoice(str(u.id), u.login) for u in accounts]
    valid = form.validate()
    flt = _audit_filter(form) if valid else audit_log.AuditFilter()
    page = request.args.get("page", 1, type=int)
    result = audit_log.search(flt, page=page)
    # Reading the log is itself recorded: who looked, with which filters, at which events.
    audit_trail.record("audit.view", None, None, filters=audit_log.describe(flt), page=result.page,
                       total=result.total, shown=[e.id for e in result.events])
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("admin/audit.html", form=form, result=result, query=query,
                           actions=audit_log.known_actions(), anchoring=audit_log.anchoring()), \
        200 if valid else 400
