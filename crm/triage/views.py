"""The triage queue page and its actions.

Filters travel in the query string (keys, ids and dates, nothing personal).
Actions are POSTed to one endpoint, for one row or for the ticked rows. With
htmx the answer replaces just that row, or the queue, in place; without
JavaScript the same POST redirects back to the same filtered page.
"""
import uuid
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import SelectChoice

from ..errors import NotFound, ServiceError
from ..contacts import labels
from ..contacts.labels import options
from ..extensions import db
from ..models import Contact, Meeting
from ..security import permissions
from ..security.permissions import can, current_actor, require
from ..services import triage as triage_service
from ..services.capture import allowed_paths
from ..services.contacts import ValidationError
from ..services.meetings import wall_clock
from .forms import ActionForm, FilterForm

bp = Blueprint("triage", __name__, url_prefix="/triage")

MEETING_CHOICES = 50


def _htmx():
    return request.headers.get("HX-Request") == "true"


def _filter_form(args):
    form = FilterForm(formdata=args)
    form.assignee.choices = options([("unassigned", _("Nobody")), ("any", _("Anyone")),
                                     *triage_service.staff_choices()])
    recent = db.session.execute(select(Meeting.id, Meeting.city, Meeting.starts_at)
                                .order_by(Meeting.starts_at.desc()).limit(MEETING_CHOICES))
    form.meeting.choices = options([("", "—")] + [(str(mid), f"{wall_clock(at):%Y-%m-%d} {city}")
                                                   for mid, city, at in recent])
    chosen = _meeting_id(args.get("meeting"))
    if chosen and str(chosen) not in {choice.value for choice in form.meeting.choices}:
        meeting = db.session.get(Meeting, chosen)  # an older meeting, linked from its page
        if meeting is not None:
            form.meeting.choices.append(
                SelectChoice(str(meeting.id), f"{wall_clock(meeting.starts_at):%Y-%m-%d} {meeting.city}"))
    cities = db.session.scalars(select(Meeting.city).distinct().order_by(Meeting.city))
    form.city.choices = options([("", "—")] + [(city, city) for city in cities])
    form.path.choices = options([("", "—")] + [(p, labels.PATHS[p]) for p in allowed_paths(current_actor())])
    return form


def _meeting_id(value):
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _filters(form):
    """QueueFilters from a validated filter form."""
    return triage_service.QueueFilters(
        status=form.status.data or "new", assignee=form.assignee.data or "unassigned",
        meeting_id=_meeting_id(form.meeting.data), city=form.city.data or None,
        path=form.path.data or None, stage=form.stage.data or None, source=form.source.data or None,
        created_from=form.created_from.data, created_to=form.created_to.data,
        include_snoozed=bool(form.include_snoozed.data), sort=form.sort.data or "oldest",
    )


def _queue(args, page):
    """(filter form, queue page or None) for the filters in ``args``."""
    form = _filter_form(args)
    if not form.validate():
        return form, None
    try:
        per_page = current_app.config.get("TRIAGE_PAGE_SIZE", triage_service.PAGE_SIZE)
        return form, triage_service.queue_page(_filters(form), current_actor(), page=page, per_page=per_page)
    except ValidationError as exc:
        for name, message in exc.errors.items():
            getattr(form, name, form.status).errors = [message]
        return form, None


def _action_form(query="", page=1):
    form = ActionForm(formdata=None)
    _action_choices(form)
    form.query.data, form.page.data = query, str(page)
    return form


def _row_controls(form):
    """What every row's action forms need, resolved once per page (not once per row)."""
    return {
        "csrf": generate_csrf(),
        "text": {"actions": _("Actions"), "assign_to": _("Assign to"), "assign": _("Assign"),
                 "path": _("Path"), "stage": _("Stage"), "set_stage": _("Set stage"),
                 "because": _("Not a fit, because"), "not_a_fit": _("Not a fit"),
                 "until": _("Snooze until"), "snooze": _("Snooze")},
        "choices": {name: [(choice.value, str(choice.label)) for choice in getattr(form, name).choices]
                    for name in ("action", "assignee", "path", "stage", "reason")},
    }


def _action_choices(form):
    form.assignee.choices = options(triage_service.staff_choices())
    form.path.choices = options((p, labels.PATHS[p]) for p in allowed_paths(current_actor()))


@bp.get("/")
@require("triage.work")
def index():
    """New, unassigned contacts, oldest first; only the rows shown are decrypted."""
    args = request.args.copy()
    args.setdefault("status", "new")
    args.setdefault("assignee", "unassigned")
    page_number = request.args.get("page", 1, type=int)
    args.pop("page", None)
    form, queue = _queue(args, page_number)
    query = urlencode(list(args.items(multi=True)))
    defaults = {"status": "new", "assignee": "unassigned", "sort": "oldest"}
    filtered = any(value and defaults.get(key) != value for key, value in args.items())
    actions = _action_form(query, queue.page if queue else 1)
    return render_template("triage/index.html", form=form, queue=queue, query=query, pager_args=dict(args),
                           filtered=filtered, actions=actions, controls=_row_controls(actions),
                           can_assign=can(current_actor(), "contacts.assign")), 200 if queue else 400


def _apply(form, user):
    """Run the chosen action; returns a message for the user."""
    ids = form.contact_ids.data or []
    action = form.action.data
    if action == "assign":
        if not can(user, "contacts.assign"):
            raise ServiceError(_("You may not assign contacts."))
        done = triage_service.assign(ids, form.assignee.data, user)
        return ngettext("%(num)d contact assigned.", "%(num)d contacts assigned.", len(done))
    if action == "stage":
        done = triage_service.set_stage(ids, form.path.data, form.stage.data, user)
        return ngettext("Stage set for %(num)d contact.", "Stage set for %(num)d contacts.", len(done))
    if action == "not_a_fit":
        done = triage_service.not_a_fit(ids, form.reason.data, user)
        return ngettext("%(num)d contact marked not a fit.", "%(num)d contacts marked not a fit.", len(done))
    if form.until.errors or form.until.data is None:
        raise ValidationError({"until": _("Choose a day.")})
    done = triage_service.snooze(ids, form.until.data, user)
    return ngettext("%(num)d contact snoozed.", "%(num)d contacts snoozed.", len(done))


def _error_text(exc):
    if isinstance(exc, ValidationError):
        return "; ".join(f"{labels_for(name)}: {message}" for name, message in exc.errors.items())
    return str(exc)


def labels_for(name):
    return {"assignee": _("Assign to"), "path": _("Path"), "stage": _("Stage"), "reason": _("Reason"),
            "until": _("Snooze until"), "contact_ids": _("Contacts")}.get(name, name)


@bp.post("/act")
@require("triage.work")
def act():
    """Assign, set a stage, mark not a fit or snooze: one row or the ticked rows, all or nothing."""
    user = current_actor()
    form = ActionForm()
    _action_choices(form)
    message, ok = None, False
    if not form.validate_on_submit():
        message = _("Choose an action and at least one contact.")
    else:
        try:
            message, ok = _apply(form, user), True
        except NotFound:
            raise  # an id the user may not see: 404, as for any hidden object
        except (ValidationError, ServiceError) as exc:
            db.session.rollback()
            message = _error_text(exc)
    query = form.query.data or ""
    page = int(form.page.data) if (form.page.data or "").isdigit() else 1
    if not _htmx():
        flash(message, "message" if ok else "error")
        return redirect(url_for("triage.index") + "?" + urlencode(
            parse_qsl(query) + [("page", page)]))
    if form.scope.data == "row" and len(form.contact_ids.data or []) == 1:
        return _row_response(form.contact_ids.data[0], query, page, message, ok)
    args = MultiDict(parse_qsl(query))
    filter_form, queue = _queue(args, page)
    actions = _action_form(query, page)
    return render_template("triage/_queue.html", queue=queue, query=query, message=message, ok=ok,
                           pager_args=dict(parse_qsl(query)), actions=actions, controls=_row_controls(actions),
                           can_assign=can(user, "contacts.assign"))


def _row_response(contact_id, query, page, message, ok):
    """The one row, as it is now (it may have left the queue), with what happened."""
    user = current_actor()
    contact = permissions.load_visible(db.session, Contact, contact_id, user)
    row = triage_service.row_for(contact, user)
    actions = _action_form(query, page)
    return render_template("triage/_row.html", row=row, query=query, page=page, message=message, ok=ok,
                           controls=_row_controls(actions), can_assign=can(user, "contacts.assign"))
