"""Meeting pages: the list, create/edit, and the meeting page with quick capture.

Quick capture posts to its own endpoint. With htmx the answer is the capture
panel alone (fresh form, running count, or the possible duplicates), swapped in
place so the coordinator stays on the page; without JavaScript the same POST
redirects back to the meeting page (or shows it again with the errors).
"""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..contacts.forms import attach_errors
from ..contacts.labels import PATHS as PATH_LABELS
from ..contacts.labels import labels, options
from ..security.permissions import can, current_actor, require
from ..services import capture as capture_service
from ..services import meetings as meeting_service
from ..services.contacts import ValidationError
from .forms import CaptureForm, MeetingForm

bp = Blueprint("meetings", __name__, url_prefix="/meetings")
bp.app_context_processor(labels)
bp.add_app_template_filter(meeting_service.wall_clock, "wall_clock")

DEFAULT_CONSENT_VERSION = "2026-01"


def _htmx():
    return request.headers.get("HX-Request") == "true"


def _consent_version():
    return current_app.config.get("CONSENT_VERSION", DEFAULT_CONSENT_VERSION)


@bp.get("/")
@require("meetings.view")
def index():
    """Meetings, most recent first."""
    page = meeting_service.list_meetings(request.args.get("page", 1, type=int))
    return render_template("meetings/index.html", page=page)


def _meeting_data(form):
    return meeting_service.MeetingData(
        city=form.city.data or "", country=form.country.data or "", starts_at=form.starts_at.data,
        venue=form.venue.data, notes=form.notes.data,
        expected_attendance=form.expected_attendance.data, actual_attendance=form.actual_attendance.data,
        host_ids=tuple(form.host_ids.data or ()),
    )


def _save(form, meeting=None):
    """Validate and save; returns the meeting, or None with the errors on the form."""
    if not form.validate_on_submit():
        return None
    try:
        if meeting is None:
            return meeting_service.create_meeting(_meeting_data(form))
        meeting_service.update_meeting(meeting, _meeting_data(form))
        return meeting
    except ValidationError as exc:
        attach_errors(form, exc.errors, "city")
        return None


@bp.route("/new", methods=["GET", "POST"])
@require("meetings.manage")
def new():
    """Create a meeting."""
    form = MeetingForm()
    form.host_ids.choices = options(meeting_service.host_choices())
    meeting = _save(form)
    if meeting is not None:
        flash(_("Meeting saved."))
        return redirect(url_for("meetings.detail", meeting_id=meeting.id))
    return render_template("meetings/form.html", form=form, meeting=None), 400 if form.errors else 200


@bp.route("/<uuid:meeting_id>/edit", methods=["GET", "POST"])
@require("meetings.manage")
def edit(meeting_id):
    """Change a meeting's place, time, hosts, notes or attendance figures."""
    meeting = meeting_service.get_meeting(meeting_id)
    if request.method == "GET":
        form = MeetingForm(obj=meeting, host_ids=[str(h.id) for h in meeting.hosts],
                           starts_at=meeting_service.wall_clock(meeting.starts_at))
    else:
        form = MeetingForm()
    form.host_ids.choices = options(meeting_service.host_choices())
    if request.method == "POST" and _save(form, meeting) is not None:
        flash(_("Meeting saved."))
        return redirect(url_for("meetings.detail", meeting_id=meeting.id))
    return render_template("meetings/form.html", form=form, meeting=meeting), 400 if form.errors else 200


def _capture_form(user, formdata=None):
    form = CaptureForm(formdata=formdata)  # None: an empty form, even during a POST
    form.paths.choices = options((p, PATH_LABELS[p]) for p in capture_service.allowed_paths(user))
    form.consent_version.data = _consent_version()
    return form


@bp.get("/<uuid:meeting_id>")
@require("meetings.view")
def detail(meeting_id):
    """The meeting, who was met there (as far as the viewer may see) and quick capture."""
    meeting = meeting_service.get_meeting(meeting_id)
    user = current_actor()
    form = _capture_form(user) if can(user, "contacts.create") else None
    return _detail_page(meeting, user, form)


def _detail_page(meeting, user, form, candidates=None, status=200):
    summary = meeting_service.summarize(meeting, user)
    return render_template("meetings/detail.html", meeting=meeting, summary=summary, form=form,
                           candidates=candidates or [], count=summary.total), status


@bp.post("/<uuid:meeting_id>/capture")
@require("contacts.create")
def capture(meeting_id):
    """Save one person met here, or show who they may already be."""
    meeting = meeting_service.get_meeting(meeting_id)
    user = current_actor()
    form = _capture_form(user, request.form)
    result, saved = None, None
    if form.validate_on_submit():
        data = capture_service.CaptureData(
            full_name=form.full_name.data or "", phone=form.phone.data, email=form.email.data,
            messenger=form.messenger.data, city=form.city.data, paths=tuple(form.paths.data or ()),
            note=form.note.data, consent=bool(form.consent.data),
        )
        try:
            result = capture_service.capture(
                meeting, data, user, _consent_version(),
                attach_to=request.form.get("attach_to") or None,
                create_anyway=request.form.get("create_anyway") == "1",
            )
        except ValidationError as exc:
            attach_errors(form, exc.errors, "full_name")
        else:
            saved = result.contact
    candidates = result.candidates if result else []
    if saved is not None:
        if not _htmx():
            flash(_("Saved. %(count)d people recorded at this meeting.",
                    count=meeting_service.visible_count(meeting, user)))
            return redirect(url_for("meetings.detail", meeting_id=meeting.id) + "#capture")
        form = _capture_form(user)
    if _htmx():
        panel = render_template("meetings/_capture.html", meeting=meeting, form=form, candidates=candidates,
                                saved=saved, attached=bool(result and result.attached),
                                count=meeting_service.visible_count(meeting, user))
        if saved is None:
            return panel
        # The list of people met here follows, swapped out of band by htmx.
        return panel + render_template("meetings/_attendees.html", meeting=meeting, oob=True,
                                       summary=meeting_service.summarize(meeting, user))
    return _detail_page(meeting, user, form, candidates, status=400 if form.errors else 200)
