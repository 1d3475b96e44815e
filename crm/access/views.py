"""Access alerts, their thresholds, reinstating a suspended account, and the lockdown.

Admins only (``users.manage``, in the route matrix and repeated at each view).
Services write the audit events; the request commits once, refusals included.
"""
from dataclasses import asdict

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..errors import NotFound, ServiceError
from ..security.permissions import can, current_actor, require
from ..services import access_alerts, access_watch, approvals, lockdown
from ..services.contacts import ValidationError
from .forms import ConfirmForm, ReasonForm, ReviewForm, SettingsForm

bp = Blueprint("access", __name__, url_prefix="/admin/access")


@bp.get("/alerts")
@require("users.manage")
def alerts():
    """Open alerts first, then the latest reviewed ones."""
    return render_template("access/alerts.html", open_alerts=access_alerts.alerts("open"),
                           reviewed=access_alerts.alerts("reviewed", limit=50),
                           review_form=ReviewForm(formdata=None), actor=current_actor())


@bp.post("/alerts/<uuid:alert_id>/review")
@require("users.manage")
def review(alert_id):
    """Mark an alert reviewed with a note; optionally reinstate the account."""
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(_("Nothing was saved: say what you found (at most 1000 characters)."), "error")
        return redirect(url_for("access.alerts"))
    try:
        access_alerts.review(alert_id, current_actor(), form.note.data, reinstate_user=form.reinstate.data)
    except NotFound:
        raise
    except ValidationError as exc:
        flash(" ".join(str(m) for m in exc.errors.values()), "error")
    except ServiceError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Alert reviewed."))
    return redirect(url_for("access.alerts"))


@bp.post("/users/<uuid:user_id>/reinstate")
@require("users.manage")
def reinstate(user_id):
    """End a suspension: the account may sign in again."""
    if ConfirmForm().validate_on_submit():
        try:
            access_alerts.reinstate(user_id, current_actor())
        except NotFound:
            raise
        except ServiceError as exc:
            flash(str(exc), "error")
        else:
            flash(_("The account is reinstated and may sign in again."))
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/settings", methods=["GET", "POST"])
@require("users.manage")
def settings():
    """The thresholds of the access watch (stored, audited)."""
    form = SettingsForm(data=asdict(access_alerts.current()) if request.method == "GET" else None)
    status = 200
    if form.is_submitted():
        values = {name: getattr(form, name).data for name in access_alerts.FIELDS}
        if form.validate():
            try:
                changed = access_alerts.update(values, current_actor())
            except ValidationError as exc:
                _attach(form, exc.errors)
            else:
                flash(_("Thresholds saved.") if changed else _("Nothing changed."))
                return redirect(url_for("access.settings"))
        else:  # every problem at once: the rules too, for the fields that are numbers
            _attach(form, {name: message for name, message in access_alerts.validate(values).items()
                           if not getattr(form, name).errors and values[name] is not None})
        status = 400
    return render_template("access/settings.html", form=form,
                           watching=access_watch.enabled()), status


def _attach(form, errors):
    for name, message in errors.items():
        field = getattr(form, name)
        field.errors = list(field.errors or []) + [message]


@bp.get("/lockdown")
@require("users.manage")
def lockdown_page():
    """The lockdown state, pending requests, and the buttons to request, approve or lift."""
    actor = current_actor()
    pending = [item for item in approvals.pending(actor) if item.kind == lockdown.KIND]
    return render_template("access/lockdown.html", current=lockdown.current(), pending=pending,
                           history=lockdown.history(), form=ReasonForm(formdata=None),
                           can_decide=lambda item: approvals.can_decide(actor, item), actor=actor)


def _reason_action(action, done):
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Nothing was done: give a reason (at most 1000 characters)."), "error")
        return redirect(url_for("access.lockdown_page"))
    try:
        action(form.reason.data)
    except NotFound:
        raise
    except ValidationError as exc:
        flash(" ".join(str(m) for m in exc.errors.values()), "error")
    except ServiceError as exc:
        flash(str(exc), "error")
    else:
        flash(done)
    return redirect(url_for("access.lockdown_page"))


@bp.post("/lockdown/request")
@require("users.manage")
def lockdown_request():
    """Ask for a lockdown; a different admin must approve it."""
    return _reason_action(lambda reason: lockdown.request_lockdown(current_actor(), reason),
                          _("Lockdown requested: a different admin must approve it."))


@bp.post("/lockdown/<uuid:request_id>/approve")
@require("users.manage")
def lockdown_approve(request_id):
    """Approve a lockdown request (never one's own): every session ends, this one too."""
    return _reason_action(lambda reason: approvals.approve(request_id, current_actor(), reason),
                          _("The lockdown is in force. Every session has ended; sign in again."))


@bp.post("/lockdown/lift")
@require("users.manage")
def lockdown_lift():
    """Lift the lockdown (one admin): staff may sign in, exports and imports resume."""
    return _reason_action(lambda reason: lockdown.lift(current_actor(), reason),
                          _("The lockdown is lifted."))


def _layout():
    actor = current_actor()
    if actor is None or not can(actor, "users.manage"):
        return {"access_nav": None}
    return {"access_nav": {"alerts": access_alerts.open_count(), "lockdown": lockdown.active()}}


def _locked_down(error):
    """A refusal the page did not handle itself: a clear 423 page."""
    return render_template("access/locked_down.html", message=str(error)), 423


def init_app(app):
    access_watch.init_app(app)
    app.context_processor(_layout)
    app.register_error_handler(lockdown.LockedDown, _locked_down)
    app.register_blueprint(bp)
