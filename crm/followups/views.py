"""Follow-up pages: my queue, the team queue, actions on one follow-up, and the rules.

Every action is a plain form POST that redirects back (no JavaScript needed);
with htmx the same endpoint answers with the one row, as it is now, in place.
URLs carry opaque ids only; nothing personal travels in a query string.
"""
import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from ..contacts.forms import attach_errors
from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Contact, FollowUp, User
from ..models.base import utcnow
from ..models.enums import RESTRICTED_PATHS
from ..security import permissions
from ..security.permissions import can, current_actor, require
from ..services import followup_firing, followup_reconcile  # noqa: F401  (register the listener, reconcile steps)
from ..services import followup_mail, followup_queues, followup_rules, followups
from ..services.contacts import ValidationError
from . import labels
from .forms import ActionForm, CreateForm, MailAddressForm, RuleForm, ToggleForm

bp = Blueprint("followups", __name__, url_prefix="/followups")

FIELD_NAMES = {"outcome": _l("Outcome"), "reason": _l("Reason"), "due": _l("Day"), "assignee": _l("Give to"),
               "kind": _l("What"), "path": _l("Path"), "assignee_id": _l("Named person")}


def _htmx():
    return request.headers.get("HX-Request") == "true"


@bp.app_context_processor
def _followup_context():
    def followup_counts():
        user = current_actor()
        return followup_queues.nav_counts(user) if user is not None else None

    return {"followup_counts": followup_counts}


def _assignee_choices(path=None):
    """(id, login) of active users who work follow-ups (cleared ones only for a restricted path)."""
    stmt = select(User.id, User.login).where(User.active.is_(True)).order_by(User.login)
    if path in RESTRICTED_PATHS:
        stmt = stmt.where(User.restricted_clearance.is_(True))
    return [(str(uid), login) for uid, login in db.session.execute(stmt)]


def _controls():
    user = current_actor()
    return {"csrf": generate_csrf(), "labels": labels.resolved(), "manage": can(user, "followups.manage"),
            "assignees": _assignee_choices() if can(user, "followups.manage") else []}


@bp.get("/")
@require("followups.work")
def index():
    """My queue: overdue, today, this week, later."""
    queue = followup_queues.my_queue(current_actor(), bucket=request.args.get("bucket"),
                                     page=request.args.get("page", 1, type=int))
    return render_template("followups/index.html", queue=queue, controls=_controls(), back="mine")


@bp.get("/team")
@require("followups.manage")
def team():
    """The team queue: workload per person, then every open follow-up, overdue first."""
    wanted = request.args.get("assignee") or None
    if wanted not in (None, "unassigned"):
        try:
            wanted = uuid.UUID(wanted)
        except ValueError:
            wanted = None
    queue = followup_queues.team_queue(current_actor(), assignee=wanted, page=request.args.get("page", 1, type=int))
    return render_template("followups/team.html", queue=queue, controls=_controls(), back="team")


def _run_action(form, followup_id, user):
    action = form.action.data
    if action == "complete":
        followups.complete(followup_id, form.outcome.data, user)
        return _("Marked done.")
    if action == "reschedule":
        if form.due.errors or form.due.data is None:
            raise ValidationError({"due": _("Choose a day.")})
        followups.reschedule(followup_id, form.due.data, user)
        return _("Moved to %(day)s.", day=form.due.data.isoformat())
    if action == "reassign":
        followups.reassign(followup_id, form.assignee.data, user)
        return _("Given to someone else.")
    followups.cancel(followup_id, form.reason.data, user)
    return _("Cancelled.")


def _error_text(exc):
    if isinstance(exc, ValidationError):
        return "; ".join(f"{FIELD_NAMES.get(name, name)}: {message}" for name, message in exc.errors.items())
    return str(exc)


@bp.post("/<uuid:followup_id>/act")
@require("followups.work")
def act(followup_id):
    """Complete, reschedule, reassign or cancel one follow-up."""
    user = current_actor()
    followup = followups.load_task(followup_id, user)  # 404 before anything else for hidden ones
    form = ActionForm()
    back = form.back.data if form.back.data in ("mine", "team", "contact") else "mine"
    message, ok = None, False
    form.validate_on_submit()  # a bad day is reported by the action below, next to what it was for
    if "csrf_token" in form.errors:
        message = _("The form has expired; try again.")
    elif form.action.errors:
        message = _("Choose an action.")
    else:
        try:
            message, ok = _run_action(form, followup.id, user), True
        except NotFound:
            raise
        except (ValidationError, ServiceError) as exc:
            db.session.rollback()
            message = _error_text(exc)
    if not _htmx():
        flash(message, "message" if ok else "error")
        return redirect(_back_url(back, followup))
    followup = db.session.get(FollowUp, followup.id)
    return render_template("followups/_row.html", followup=followup, controls=_controls(), back=back,
                           message=message, ok=ok, today=utcnow().date())


def _back_url(back, followup):
    if back == "contact":
        return url_for("contacts.detail", contact_id=followup.contact_id) + "#followups"
    if back == "team" and can(current_actor(), "followups.manage"):
        return url_for("followups.team")
    return url_for("followups.index")


@bp.post("/contact/<uuid:contact_id>/new")
@require("followups.work")
def create(contact_id):
    """A follow-up created by hand from the contact page."""
    user = current_actor()
    contact = permissions.load_visible(db.session, Contact, contact_id, user)
    form = CreateForm()
    if not form.validate_on_submit():
        errors = {name: " ".join(str(m) for m in messages) for name, messages in form.errors.items()}
        flash(_error_text(ValidationError(errors or {"due": _("Choose a day.")})), "error")
        return redirect(url_for("contacts.detail", contact_id=contact.id) + "#followups")
    try:
        followups.create(contact.id, form.kind.data, form.due.data, user,
                         assignee_id=form.assignee.data or None, path=form.path.data or None)
        flash(_("Follow-up added."), "message")
    except NotFound:
        raise
    except (ValidationError, ServiceError) as exc:
        db.session.rollback()
        flash(_error_text(exc), "error")
    return redirect(url_for("contacts.detail", contact_id=contact.id) + "#followups")


@bp.route("/mail", methods=["GET", "POST"])
@require("followups.work")
def mail_address():
    """Where my reminders and digests go (they carry counts and a link, never a person's details)."""
    user = current_actor()
    form = MailAddressForm()
    status = 200
    if request.method == "GET":
        form.email.data = user.email if isinstance(user.email, str) else None
    elif form.validate_on_submit():
        try:
            followup_mail.set_mail_address(user, form.email.data)
            flash(_("Saved.") if form.email.data else _("No more mail will be sent to you."), "message")
            return redirect(url_for("followups.mail_address"))
        except ValidationError as exc:
            db.session.rollback()
            attach_errors(form, exc.errors, "email")
            status = 400
    else:
        status = 400
    return render_template("followups/mail_address.html", form=form), status


# --- rules (admins) -------------------------------------------------------------------

def _rule_form(rule=None, formdata=None):
    form = RuleForm(formdata=formdata, obj=rule)
    user = current_actor()
    from ..services.capture import allowed_paths
    from ..contacts import labels as contact_labels

    form.path.choices = contact_labels.options((p, contact_labels.PATHS[p]) for p in allowed_paths(user))
    form.assignee_id.choices = contact_labels.options([("", "—")] + _assignee_choices())
    if rule is not None and formdata is None:
        form.assignee_id.data = str(rule.assignee_id) if rule.assignee_id else ""
    return form


def _rule_data(form):
    return followup_rules.RuleData(
        path=form.path.data, stage=form.stage.data, kind=form.kind.data,
        delay_days=form.delay_days.data,  # None when not a number: the service says so
        assign_to=form.assign_to.data, assignee_id=form.assignee_id.data or None,
        strategy=form.strategy.data, active=bool(form.active.data))


def _save_rule(form, rule_id=None):
    """Validate and save; returns the rule, or None with the errors next to the fields."""
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        form.path.errors = [_("The form has expired; try again.")]
        return None
    form.delay_days.errors = []  # the service's message is the clearer one
    try:
        data = _rule_data(form)
        user = current_actor()
        rule = (followup_rules.update_rule(rule_id, data, user) if rule_id is not None
                else followup_rules.create_rule(data, user))
        return rule
    except ValidationError as exc:
        db.session.rollback()
        attach_errors(form, exc.errors, "path")
        return None


@bp.get("/rules")
@require("rules.manage")
def rules():
    """Every rule the admin may see (restricted paths need clearance)."""
    return render_template("followups/rules.html", rules=followup_rules.visible_rules(current_actor()),
                           labels_fu=labels.resolved(), toggle=ToggleForm(formdata=None))


@bp.route("/rules/new", methods=["GET", "POST"])
@require("rules.manage")
def rule_new():
    """A new rule."""
    form = _rule_form(formdata=request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        rule = _save_rule(form)
        if rule is not None:
            flash(_("Rule saved."), "message")
            return redirect(url_for("followups.rules"))
        status = 400
    return render_template("followups/rule_form.html", form=form, rule=None, versions=[],
                           labels_fu=labels.resolved()), status


@bp.route("/rules/<int:rule_id>", methods=["GET", "POST"])
@require("rules.manage")
def rule_edit(rule_id):
    """Edit a rule: saving makes a new version; the old ones are listed below."""
    rule = followup_rules.load_rule(rule_id, current_actor())
    form = _rule_form(rule, formdata=request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        saved = _save_rule(form, rule.id)
        if saved is not None:
            flash(_("Rule saved as version %(version)d.", version=saved.version), "message")
            return redirect(url_for("followups.rules"))
        status = 400
    return render_template("followups/rule_form.html", form=form, rule=rule,
                           versions=followup_rules.versions_of(rule), labels_fu=labels.resolved()), status


@bp.post("/rules/<int:rule_id>/active")
@require("rules.manage")
def rule_toggle(rule_id):
    """Deactivate or reactivate a rule (a new version as well)."""
    rule = followup_rules.load_rule(rule_id, current_actor())
    form = ToggleForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; try again."), "error")
        return redirect(url_for("followups.rules"))
    try:
        followup_rules.set_active(rule.id, form.active.data == "1", current_actor())
        flash(_("Rule deactivated.") if form.active.data != "1" else _("Rule activated."), "message")
    except (ValidationError, ServiceError) as exc:
        db.session.rollback()
        flash(_error_text(exc), "error")
    return redirect(url_for("followups.rules"))
