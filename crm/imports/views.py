"""Import pages: upload, mapping with a preview, progress (htmx polling or a refresh), rejects.

The upload is the one request that may carry more than MAX_CONTENT_LENGTH: the
body limit is raised to IMPORT_MAX_BYTES for it before anything reads the body,
and a larger file is answered 413 with the upload page and a clear message.
"""
import io

from flask import Blueprint, Response, current_app, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectChoice

from ..extensions import db
from ..models import ImportRun, Meeting
from ..security.permissions import current_actor, require
from ..services import imports, lockdown
from ..services.import_reader import FIELDS
from .forms import UploadForm, mapping_form

bp = Blueprint("imports", __name__, url_prefix="/imports")

FIELD_LABELS = {
    "": "—", "full_name": _l("Full name"), "first_name": _l("First name"), "last_name": _l("Last name"),
    "email": _l("Email"), "phone": _l("Phone(s)"), "messenger": _l("Messenger"), "city": _l("City"),
    "country": _l("Country"), "notes": _l("Notes"), "skills": _l("Skills"), "languages": _l("Languages"),
    "paths": _l("Paths"),
}
STATUS_LABELS = {"uploaded": _l("waiting for the column mapping"), "queued": _l("queued"),
                 "running": _l("running"), "done": _l("done"), "failed": _l("failed")}


def init_app(app):
    """Raise the body limit for the upload, ahead of every other before_request (CSRF reads the body)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_upload_body)


def _limit_upload_body():
    if request.endpoint == "imports.index" and request.method == "POST":
        request.max_content_length = current_app.config["IMPORT_MAX_BYTES"] + 64 * 1024
        # Werkzeug spools uploads over 500 KB to a temporary file: in the clear, on disk.
        # The body is capped just above, so the sheet stays in memory until it is encrypted.
        request._get_file_stream = _in_memory


def _in_memory(total_content_length, content_type, filename=None, content_length=None):
    return io.BytesIO()


def _field_choices():
    return [SelectChoice(key, str(label)) for key, label in FIELD_LABELS.items() if key == "" or key in FIELDS]


def _meeting_choices():
    meetings = db.session.scalars(select(Meeting).order_by(Meeting.starts_at.desc()).limit(50))
    return [SelectChoice("", _("None"))] + [
        SelectChoice(str(m.id), f"{m.city} {m.starts_at:%Y-%m-%d}" if m.starts_at else m.city) for m in meetings]


def _recent(user):
    query = select(ImportRun).order_by(ImportRun.created_at.desc()).limit(20)
    if user.role != "admin":
        query = query.where(ImportRun.owner_id == user.id)
    return db.session.scalars(query).all()


@bp.errorhandler(413)
def too_large(error):
    limit = current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024)
    message = _("The file is larger than %(limit)s MB. Split it into smaller sheets and import each.",
                limit=limit)
    return render_template("imports/index.html", form=UploadForm(formdata=None), runs=[],
                           upload_error=message, statuses=STATUS_LABELS), 413


@bp.route("/", methods=["GET", "POST"])
@require("imports.run")
def index():
    """Recent imports and the upload form."""
    user = current_actor()
    form = UploadForm()
    error = None
    if form.validate_on_submit():
        upload = form.sheet.data
        if not upload or not upload.filename:
            error = _("Choose a file to upload.")
        else:
            try:
                run = imports.upload(upload.stream, upload.filename, user, encoding=form.encoding.data)
            except imports.ImportProblem as exc:
                db.session.rollback()
                lockdown.keep_refusal(exc)  # the refusal stays audited (the request commits at its end)
                error = _("This file cannot be imported: %(reason)s.", reason=str(exc))
            else:
                db.session.commit()
                return redirect(url_for("imports.mapping", import_id=run.id))
    status = 400 if error else 200
    return render_template("imports/index.html", form=form, runs=_recent(user), upload_error=error,
                           statuses=STATUS_LABELS), status


@bp.route("/<import_id>/map", methods=["GET", "POST"])
@require("imports.run")
def mapping(import_id):
    """Preview of the first rows, a field per column, the meeting and the phone region."""
    run = imports.get_run(import_id, current_actor())
    if run.status != "uploaded":
        return redirect(url_for("imports.progress", import_id=run.id))
    defaults = {f"col_{k}": v for k, v in run.mapping.items()}
    form = mapping_form(run.columns, _field_choices(), _meeting_choices(),
                        data=None if request.method == "POST" else
                        {**defaults, "has_header": run.has_header, "region": run.region, "meeting_id": ""})
    error = None
    if form.validate_on_submit():
        chosen = {str(i): getattr(form, f"col_{i}").data for i in range(run.columns)}
        try:
            imports.configure(run, chosen, meeting_id=form.meeting_id.data or None,
                              region=(form.region.data or "").strip() or None, has_header=form.has_header.data)
            imports.start(run)
        except imports.ImportProblem as exc:
            db.session.rollback()
            lockdown.keep_refusal(exc)
            run = imports.get_run(import_id, current_actor())
            error = str(exc)
        else:
            db.session.commit()
            return redirect(url_for("imports.progress", import_id=run.id))
    header, rows = imports.preview(run)
    db.session.commit()  # the preview's audit event
    columns = [getattr(form, f"col_{i}") for i in range(run.columns)]
    return render_template("imports/map.html", run=run, form=form, header=header, rows=rows,
                           columns=columns, map_error=error), 400 if error else 200


@bp.get("/<import_id>")
@require("imports.run")
def progress(import_id):
    """Rows done / total and the outcomes so far; htmx polls the panel, a refresh works too."""
    run = imports.get_run(import_id, current_actor())
    context = {"run": run, "summary": imports.summary(run), "status": STATUS_LABELS[run.status]}
    if request.headers.get("HX-Request") == "true":
        return render_template("imports/_progress.html", **context)
    return render_template("imports/progress.html", **context)


@bp.get("/<import_id>/rejects.csv")
@require("imports.run")
def rejects(import_id):
    """The rejected rows with their reasons, as CSV (decrypted as it streams)."""
    run = imports.get_run(import_id, current_actor())
    stream = imports.open_rejects(run, current_actor())
    db.session.commit()

    def body():
        with stream:
            while chunk := stream.read(64 * 1024):
                yield chunk

    return Response(stream_with_context(body()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="import-{run.id.hex[:8]}-rejected.csv"',
        "Cache-Control": "no-store"})
