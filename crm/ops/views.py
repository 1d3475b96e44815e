"""Admin operations: the jobs page, the mail outbox and the mail template editor.

Admins only (``jobs.view``), in the route matrix and again at each view. Every
change (retry, discard, resend, template save or revert) is audited by its
service; opening one message is audited because it decrypts a recipient.
"""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..extensions import db
from ..i18n import LANGUAGE_NAMES, LANGUAGES
from ..models.enums import OUTBOX_STATUSES
from ..security.permissions import current_actor, require
from ..services import jobs_admin, mail_admin, mail_templates
from .forms import ConfirmForm, TemplateForm, TestMailForm

bp = Blueprint("ops", __name__, url_prefix="/admin")


@bp.get("/jobs")
@require("jobs.view")
def jobs():
    """Queues with counts, workers alive, schedules, failed jobs with their error."""
    return render_template("ops/jobs.html", queues=jobs_admin.queues(), workers=jobs_admin.workers(),
                           schedules=jobs_admin.schedules(), failed=jobs_admin.failed_jobs(),
                           confirm=ConfirmForm())


def _job_action(job_id, action, done):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    action(job_id)
    db.session.commit()
    flash(done)
    return redirect(url_for("ops.jobs"))


@bp.post("/jobs/<job_id>/retry")
@require("jobs.view")
def job_retry(job_id):
    return _job_action(job_id, jobs_admin.retry, _("The job was queued again."))


@bp.post("/jobs/<job_id>/discard")
@require("jobs.view")
def job_discard(job_id):
    return _job_action(job_id, jobs_admin.discard, _("The failed job was discarded."))


@bp.get("/mail")
@require("jobs.view")
def mail():
    """Every outgoing message (metadata only) and the development file outbox."""
    status = request.args.get("status")
    status = status if status in OUTBOX_STATUSES else None
    page = mail_admin.list_outbox(status, request.args.get("page", 1, type=int))
    return render_template("ops/mail.html", page=page, status=status, statuses=OUTBOX_STATUSES,
                           test_form=TestMailForm(), confirm=ConfirmForm())


@bp.post("/mail/test")
@require("jobs.view")
def mail_test():
    form = TestMailForm()
    if not form.validate_on_submit():
        page = mail_admin.list_outbox()
        return render_template("ops/mail.html", page=page, status=None, statuses=OUTBOX_STATUSES,
                               test_form=form, confirm=ConfirmForm()), 400
    reference = mail_admin.send_test(form.address.data.strip(), form.locale.data)
    db.session.commit()
    flash(_("Test message queued (reference %(ref)s).", ref=reference))
    return redirect(url_for("ops.mail"))


@bp.get("/mail/<uuid:outbox_id>")
@require("jobs.view")
def mail_message(outbox_id):
    """One message as sent: headers, text and HTML source (opening it is audited)."""
    message = mail_admin.open_message(outbox_id)
    db.session.commit()
    return render_template("ops/mail_message.html", message=message, confirm=ConfirmForm())


@bp.post("/mail/<uuid:outbox_id>/resend")
@require("jobs.view")
def mail_resend(outbox_id):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if mail_admin.resend(outbox_id):
        db.session.commit()
        flash(_("The message was queued again."))
    else:
        flash(_("Only a failed message can be sent again."), "error")
    return redirect(url_for("ops.mail_message", outbox_id=outbox_id))


@bp.get("/mail/templates")
@require("jobs.view")
def mail_templates_index():
    """Every mail template and language, with the version in use."""
    names = mail_templates.known_templates()
    current = {(name, lang): mail_templates.current_override(name, lang) for name in names for lang in LANGUAGES}
    return render_template("ops/mail_templates.html", names=names, languages=LANGUAGES,
                           language_names=LANGUAGE_NAMES, current=current)


def _known(template, locale):
    if locale not in LANGUAGES or template not in mail_templates.known_templates():
        abort(404)


@bp.route("/mail/templates/<locale>/<path:template>", methods=["GET", "POST"])
@require("jobs.view")
def mail_template(locale, template):
    """Edit one template in one language: check, preview with sample data, save a version."""
    _known(template, locale)
    if request.method == "GET":
        form = TemplateForm(data=mail_templates.editable_parts(template, locale))
    else:
        form = TemplateForm()
    preview, status = None, 200
    if request.method == "POST" and form.validate_on_submit():
        parts = {part: getattr(form, part).data or "" for part in mail_templates.PARTS}
        try:
            mail_templates.validate(template, parts)
            if form.save.data:
                row = mail_templates.save_version(template, locale, parts, current_actor().id)
                db.session.commit()
                flash(_("Saved as version %(version)d.", version=row.version))
                return redirect(url_for("ops.mail_template", locale=locale, template=template))
            preview = mail_templates.preview(template, locale, parts)
        except mail_templates.TemplateError as exc:
            for part, message in exc.errors.items():
                getattr(form, part, form.subject).errors.append(message)
            status = 400
    elif request.method == "POST":
        status = 400
    return render_template("ops/mail_template.html", form=form, template=template, locale=locale,
                           language_names=LANGUAGE_NAMES, preview=preview,
                           variables=mail_templates.allowed_variables(template),
                           versions=mail_templates.versions(template, locale), confirm=ConfirmForm()), status


@bp.post("/mail/template-revert/<locale>/<int:version>/<path:template>")
@require("jobs.view")
def mail_template_revert(locale, version, template):
    """Make an earlier version (or the default files) current again, as a new version."""
    _known(template, locale)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        if version == 0:
            row = mail_templates.save_version(template, locale, {}, current_actor().id)
        else:
            row = mail_templates.revert(template, locale, version, current_actor().id)
    except mail_templates.TemplateError:
        abort(404)
    db.session.commit()
    flash(_("Version %(old)d is in use again (saved as version %(new)d).", old=version, new=row.version))
    return redirect(url_for("ops.mail_template", locale=locale, template=template))
