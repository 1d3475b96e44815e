"""Export pages: request an export, approve others', download one's own once, trace a leak.

The download is a POST (a link prefetched by a browser or a mail scanner must
not spend the one download) and answers with ``Cache-Control: no-store``.
"""
import uuid

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..contacts import labels
from ..contacts.labels import options
from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Meeting, User
from ..security.permissions import can, current_actor, require
from ..services import exports as export_service
from ..services import lockdown
from ..services import triage as triage_service
from ..services.capture import allowed_paths
from ..services.contacts import ValidationError
from ..services.meetings import wall_clock
from .forms import DecisionForm, ExportForm, TraceForm

bp = Blueprint("exports", __name__, url_prefix="/exports")
MEETING_CHOICES = 50
TRACE_MAX_BYTES = 50 * 1024 * 1024


def _populate(form):
    """The choices of the filter fields, as on the triage page."""
    form.assignee.choices = options([("unassigned", _("Nobody")), ("any", _("Anyone")),
                                     *triage_service.staff_choices()])
    recent = db.session.execute(select(Meeting.id, Meeting.city, Meeting.starts_at)
                                .order_by(Meeting.starts_at.desc()).limit(MEETING_CHOICES))
    form.meeting.choices = options([("", "—")] + [(str(mid), f"{wall_clock(at):%Y-%m-%d} {city}")
                                                   for mid, city, at in recent])
    cities = db.session.scalars(select(Meeting.city).distinct().order_by(Meeting.city))
    form.city.choices = options([("", "—")] + [(city, city) for city in cities])
    form.path.choices = options([("", "—")] + [(p, labels.PATHS[p]) for p in allowed_paths(current_actor())])
    return form


def _meeting_id(value):
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _request_of(form):
    filters = triage_service.QueueFilters(
        status=form.status.data or "new", assignee=form.assignee.data or "unassigned",
        meeting_id=_meeting_id(form.meeting.data), city=form.city.data or None, path=form.path.data or None,
        stage=form.stage.data or None, source=form.source.data or None, created_from=form.created_from.data,
        created_to=form.created_to.data, include_snoozed=bool(form.include_snoozed.data))
    return export_service.ExportRequest(filters, tuple(form.columns.data or ()), form.format.data or "csv",
                                        form.reason.data)


@bp.get("/")
@require("contacts.export")
def index():
    """The user's exports and, for approvers, those waiting for a second admin."""
    user = current_actor()
    mine = [export_service.refresh_status(e) for e in export_service.my_exports(user)]
    db.session.commit()
    return render_template("exports/index.html", mine=mine, waiting=export_service.waiting_for(user),
                           form=DecisionForm(formdata=None), threshold=export_service.threshold(),
                           can_trace=can(user, "audit.view"))


@bp.route("/new", methods=["GET", "POST"])
@require("contacts.export")
def new():
    """Choose filters, columns and format; a large list needs a reason and an approval."""
    form = _populate(ExportForm(formdata=request.form if request.method == "POST" else None))
    if request.method == "GET":
        form.status.data, form.assignee.data, form.format.data = "any", "any", "csv"
        form.columns.data = ["full_name", "email", "phone"]
        return render_template("exports/new.html", form=form, threshold=export_service.threshold())
    if form.validate_on_submit():
        try:
            export = export_service.request_export(_request_of(form), current_actor())
        except ValidationError as exc:
            for name, message in exc.errors.items():
                field = getattr(form, name, None) or form.status
                field.errors = list(field.errors or []) + [message]
        else:
            db.session.commit()
            if export.status == "pending_approval":
                flash(_("Requested. A second admin must approve this export before it is built."))
            else:
                flash(_("Requested. The file is being built; download it from this page."))
            return redirect(url_for("exports.index"))
    return render_template("exports/new.html", form=form, threshold=export_service.threshold()), 400


def _decide(export_id, approve):
    form = DecisionForm()
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for("exports.index"))
    try:
        export_service.decide(export_id, current_actor(), approve)
    except NotFound:
        raise
    except ServiceError as exc:
        db.session.rollback()
        lockdown.keep_refusal(exc)  # the refusal stays audited (the request commits at its end)
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Approved: the file is being built for the requester.") if approve else _("Refused."))
    return redirect(url_for("exports.index"))


@bp.post("/<uuid:export_id>/approve")
@require("exports.approve")
def approve(export_id):
    """A second admin approves a large export (never the requester)."""
    return _decide(export_id, True)


@bp.post("/<uuid:export_id>/refuse")
@require("exports.approve")
def refuse(export_id):
    """A second admin refuses a large export."""
    return _decide(export_id, False)


@bp.post("/<uuid:export_id>/download")
@require("contacts.export")
def download(export_id):
    """The file, once, to its requester; its bytes are deleted as it is handed over."""
    form = DecisionForm()
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for("exports.index"))
    try:
        export, stream = export_service.take_download(export_id, current_actor())
    except NotFound:
        raise
    except ServiceError as exc:
        db.session.rollback()
        lockdown.keep_refusal(exc)  # the refusal stays audited (the request commits at its end)
        flash(str(exc), "error")
        return redirect(url_for("exports.index"))
    db.session.commit()

    def chunks():
        try:
            while True:
                chunk = stream.read(64 * 1024)
                if not chunk:
                    break
                yield chunk
        finally:
            stream.close()

    response = Response(chunks(), mimetype=export_service.CONTENT_TYPES[export.format])
    response.headers["Content-Disposition"] = f'attachment; filename="{export_service.file_name(export)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/trace", methods=["GET", "POST"])
@require("audit.view")
def trace():
    """Which export a file (or an address seen somewhere) comes from, by its canary."""
    form = TraceForm()
    result, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 400
        else:
            upload = form.file.data
            data = upload.read(TRACE_MAX_BYTES + 1) if upload else b""
            if len(data) > TRACE_MAX_BYTES:
                form.file.errors = [_("The file is too large to check here; use flask crm exports trace.")]
                status = 400
            elif not data and not (form.value.data or "").strip():
                form.value.errors = [_("Choose a file or type an address or number.")]
                status = 400
            else:
                try:
                    if data:
                        result = export_service.trace(data, current_actor())
                    else:
                        result = export_service.trace_value(form.value.data, current_actor())
                    db.session.commit()
                except ServiceError as exc:
                    db.session.rollback()
                    form.file.errors = [str(exc)]
                    status = 400
    logins = {}
    if result is not None and result.exports:
        logins = dict(db.session.execute(select(User.id, User.login).where(
            User.id.in_({e.requested_by_id for e in result.exports if e.requested_by_id}))).all())
    return render_template("exports/trace.html", form=form, result=result, logins=logins), status
