"""The signals review page, decisions on a flag, and blocking a contact.

Flags are raised by jobs (``crm.services.signal_checks``); here coordinators and
admins read them with their evidence and decide. Every contact is loaded
through the permission helpers: a flag of a contact the viewer may not see is
not listed, not counted, and its URL answers 404. Two template globals put the
flags on the contact page and a badge on list rows.
"""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import Contact, User
from ..security import permissions
from ..security.permissions import current_actor, require
from ..services import signal_checks  # noqa: F401  (registers the spike's reconcile step)
from ..services import signals as signal_service
from . import labels
from .forms import BlockForm, DecideForm

bp = Blueprint("signals", __name__, url_prefix="/signals")


@bp.get("/")
@require("triage.work")
def index():
    """Flags of the contacts the viewer may see, by status, newest first."""
    user = current_actor()
    page = signal_service.review_page(user, request.args.get("status", "open"), _page_number())
    return render_template("signals/index.html", page=page, others=signal_service.visible_others(page.signals, user),
                           contacts=_contacts(page.signals), labels_s=labels.resolved(),
                           logins=_logins(page.signals))


def _page_number():
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def _contacts(signals):
    ids = {s.contact_id for s in signals}
    return {c.id: c for c in db.session.scalars(select(Contact).where(Contact.id.in_(ids)))} if ids else {}


def _logins(signals):
    ids = {s.decided_by_id for s in signals if s.decided_by_id}
    return dict(db.session.execute(select(User.id, User.login).where(User.id.in_(ids))).all()) if ids else {}


def _back(form, contact_id):
    if form.back.data == "contact":
        return redirect(url_for("contacts.detail", contact_id=contact_id, _anchor="signals"))
    return redirect(url_for("signals.index"))


@bp.post("/<uuid:signal_id>/decide")
@require("triage.work")
def decide(signal_id):
    """Clear or confirm one flag with a note; a missing note or a decided flag says so."""
    user = current_actor()
    signal, contact = signal_service.load_signal(signal_id, user)
    form = DecideForm()
    if not form.validate_on_submit():
        problems = [str(e) for errors in form.errors.values() for e in errors]
        flash(" ".join(problems) or _("The form expired; try again."), "error")
        return _back(form, contact.id), 303
    try:
        signal_service.decide(signal.id, form.outcome.data, form.note.data, user)
    except signal_service.DecisionRefused as exc:
        flash(str(exc), "error")  # the request still commits: the refusal's audit event stays
        return _back(form, contact.id), 303
    flash(_("The flag is confirmed: the person is on the blocklist and stays unverified.")
          if form.outcome.data == "confirm" else _("The flag is cleared."))
    return _back(form, contact.id), 303


@bp.post("/block/<uuid:contact_id>")
@require("triage.work")
def block(contact_id):
    """Block a contact with a reason: their tokens go on the blocklist, they stay unverified."""
    user = current_actor()
    contact = permissions.load_visible(db.session, Contact, contact_id, user)
    form = BlockForm()
    if not form.validate_on_submit():
        problems = [str(e) for errors in form.errors.values() for e in errors]
        flash(" ".join(problems) or _("The form expired; try again."), "error")
    else:
        try:
            signal_service.block_contact(contact.id, form.category.data, form.note.data, user)
        except signal_service.DecisionRefused as exc:
            flash(str(exc), "error")
        else:
            flash(_("The contact is blocked: their details are on the blocklist."))
    return redirect(url_for("contacts.detail", contact_id=contact.id, _anchor="signals")), 303


@bp.app_template_global()
def signal_badges(contact):
    """The kinds of open or confirmed flags of ``contact`` for a list row ([] for other viewers).

    One query per request loads every live flag's contact and kind (flags are few).
    """
    user = current_actor()
    if contact is None or not permissions.can(user, "triage.work"):
        return []
    if "signal_kinds" not in g:
        g.signal_kinds = signal_service.live_kinds()
    return g.signal_kinds.get(contact.id, [])


@bp.app_template_global()
def signal_panel(contact):
    """What ``templates/signals/_contact_panel.html`` shows on a contact page (None: nothing)."""
    user = current_actor()
    if not permissions.can(user, "triage.work", contact):
        return None
    found = signal_service.contact_signals(contact, user)
    return {"signals": found, "others": signal_service.visible_others(found, user),
            "logins": _logins(found), "labels": labels.resolved()}


@bp.app_template_global()
def signal_labels():
    return labels.resolved()
