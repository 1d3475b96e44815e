"""The approvals queue (``/approvals``) and the request forms of the contact page.

Every decision and request is a plain POST form (no JavaScript needed); errors come
back as a 400 page with the message next to the reason and the typed text kept.
The rules themselves (who may, one pending per subject, requester != decider, the
race, re-validation) live in ``crm.services.approvals`` and ``crm.services.vetting``.
"""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..contacts.forms import attach_errors
from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Contact, User
from ..security import audit, permissions
from ..security.permissions import current_actor, require
from ..services import approvals, vetting
from ..services.contacts import ValidationError
from .forms import DecisionForm, RequestForm

bp = Blueprint("approvals", __name__, url_prefix="/approvals")


def _rows(items, user, forms=None):
    """What the queue shows of each request: ready data, no queries in the template."""
    forms = forms or {}
    logins = dict(db.session.execute(select(User.id, User.login).where(
        User.id.in_({i.requested_by_id for i in items if i.requested_by_id}))).all()) if items else {}
    contacts = {c.id: c for c in db.session.scalars(select(Contact).where(
        Contact.id.in_({i.contact_id for i in items if i.contact_id})))} if items else {}
    return [{"item": item, "what": approvals.describe(item), "by": logins.get(item.requested_by_id),
             "contact": contacts.get(item.contact_id), "own": item.requested_by_id == user.id,
             "may_decide": approvals.can_decide(user, item),
             "form": forms.get(item.id) or DecisionForm(formdata=None, prefix=f"r{item.id.hex}")}
            for item in items]


def _queue_page(user, forms=None, status=200):
    items = approvals.pending(user)
    rows = _rows(items, user, forms)
    audit.record("approval.queue_view", None, None, requests=[str(i.id) for i in items],
                 contacts=sorted({str(i.contact_id) for i in items if i.contact_id}))
    return render_template("approvals/index.html", rows=rows), status


@bp.get("/")
@require("contacts.assign")
def index():
    """The pending requests the user may see: their own, and those they may decide."""
    return _queue_page(current_actor())


def _decide(request_id, action):
    user = current_actor()
    item = approvals.load(request_id, user)  # NotFound -> 404 for a hidden or unknown id
    form = DecisionForm(prefix=f"r{item.id.hex}")
    if not form.validate_on_submit():
        attach_errors(form, {"reason": _("The form expired: try again.")}, "reason")
        return _queue_page(user, {item.id: form}, 400)
    try:
        getattr(approvals, action)(item.id, user, form.reason.data)
    except ValidationError as exc:
        db.session.rollback()
        attach_errors(form, exc.errors, "reason")
        return _queue_page(user, {item.id: form}, 400)
    except NotFound:
        raise
    except ServiceError as exc:
        db.session.commit()  # the refusal's audit event stays
        attach_errors(form, {"reason": str(exc)}, "reason")
        return _queue_page(user, {item.id: form}, 409)
    db.session.commit()
    flash({"approve": _("Approved and applied."), "reject": _("Rejected."),
           "cancel": _("Request cancelled.")}[action])
    return redirect(url_for("approvals.index"))


@bp.post("/<uuid:request_id>/approve")
@require("contacts.assign")
def approve(request_id):
    return _decide(request_id, "approve")


@bp.post("/<uuid:request_id>/reject")
@require("contacts.assign")
def reject(request_id):
    return _decide(request_id, "reject")


@bp.post("/<uuid:request_id>/cancel")
@require("contacts.assign")
def cancel(request_id):
    return _decide(request_id, "cancel")


@bp.post("/contact/<uuid:contact_id>")
@require("contacts.assign")
def create(contact_id):
    """Request a restricted stage or vetting for a contact (a cleared coordinator)."""
    user = current_actor()
    contact = permissions.load_visible(db.session, Contact, contact_id, user, "contacts.assign")
    form = RequestForm(prefix=_posted_prefix())
    if not form.validate_on_submit() or form.kind.data not in (vetting.STAGE, vetting.VETTING):
        attach_errors(form, {"reason": _("The form expired: try again.")}, "reason")
        return _request_page(contact, form, 400)
    try:
        if form.kind.data == vetting.STAGE:
            vetting.request_stage(contact, user, form.path.data, form.to_stage.data, form.reason.data)
        else:
            vetting.request_vetting(contact, user, form.reason.data)
    except ValidationError as exc:
        db.session.rollback()
        attach_errors(form, exc.errors, "reason")
        return _request_page(contact, form, 400)
    except NotFound:
        raise
    except ServiceError as exc:
        db.session.commit()  # the refusal's audit event stays
        attach_errors(form, {"reason": str(exc)}, "reason")
        return _request_page(contact, form, 409)
    db.session.commit()
    flash(_("Request sent: another cleared coordinator must approve it."))
    return redirect(url_for("contacts.detail", contact_id=contact.id) + "#approvals")


REQUEST_PREFIXES = ("vet", "p-reserve_training", "p-combat_service")


def _posted_prefix():
    """Which of the contact page's request forms was sent (each has its own field ids)."""
    return next((p for p in REQUEST_PREFIXES if f"{p}-reason" in request.form), "vet")


def _request_page(contact, form, status):
    return render_template("approvals/request.html", contact=contact, form=form), status


def contact_panel(contact):
    """The contact page's approvals section: pending requests and the request forms."""
    user = current_actor()
    if user is None or not permissions.has_clearance(user) or not permissions.can(user, "contacts.assign", contact):
        return None
    items = approvals.pending(user, contact)
    stage_forms = []
    for path, stages in vetting.stage_choices(contact, user):
        form = RequestForm(formdata=None, prefix=f"p-{path}")
        form.kind.data, form.path.data = vetting.STAGE, path
        form.to_stage.choices = [c for c in form.to_stage.choices if c.value in stages]
        stage_forms.append((path, form))
    vet_form = None
    if vetting.may_request_vetting(contact, user):
        vet_form = RequestForm(formdata=None, prefix="vet")
        vet_form.kind.data = vetting.VETTING
    return {"rows": _rows(items, user), "stage_forms": stage_forms, "vet_form": vet_form}


@bp.app_context_processor
def _approval_context():
    def approval_count():
        user = current_actor()
        if user is None or not permissions.can(user, "contacts.assign"):
            return 0
        return approvals.pending_count(user)

    return {"approval_count": approval_count, "approval_panel": contact_panel}
