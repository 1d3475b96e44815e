"""Contact pages: the search box, the contact page, editing details, stages and notes.

Searches are POSTed: what was typed (an email, a phone, a name) never appears
in a URL, an access log or the browser history. Every contact is loaded
through ``load_visible``, so an id the user may not see answers 404 exactly
like one that does not exist.
"""
import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import Contact
from ..security import audit, permissions
from ..security.crypto import crypto
from ..security.permissions import current_actor, require
from ..services import contact_edit, contact_notes, contact_page, search as search_service
from ..services import contacts as contact_service
from ..services import merge as merge_service
from ..services.contacts import ValidationError
from ..followups.panel import contact_panel
from .forms import ContactEditForm, NoteForm, SearchForm, StageForm, attach_errors

bp = Blueprint("contacts", __name__, url_prefix="/contacts")
SEARCH_SHOWN = 100


def _load(contact_id, permission="contacts.view"):
    return permissions.load_visible(db.session, Contact, contact_id, current_actor(), permission)


@bp.route("/", methods=["GET", "POST"])
@require("contacts.view")
def index():
    """The search box; a POST shows the people the viewer may see who match."""
    form = SearchForm()
    result, more = None, 0
    if form.validate_on_submit():
        user = current_actor()
        # One more than shown, to know that more exist (a name search stops there).
        found = search_service.search(form.q.data, visible_to=user, name_limit=SEARCH_SHOWN + 1)
        visible = [c for c in found.contacts if permissions.visible(user, c)]
        result = search_service.SearchResult(found.kind, visible[:SEARCH_SHOWN])
        more = len(visible) > len(result.contacts)
        audit.record("contact.search", None, None, kind=found.kind, results=len(visible),
                     contacts=[str(c.id) for c in result.contacts])
    return render_template("contacts/search.html", form=form, result=result, more=more)


@bp.get("/<uuid:contact_id>")
@require("contacts.view")
def detail(contact_id):
    """Everything about one person; decrypting it is audited once.

    The id of a contact merged into another leads to the one it was merged into,
    for a user who may see that one (anyone else gets the same 404 as ever).
    """
    try:
        contact = _load(contact_id)
    except NotFound:
        survivor_id = merge_service.redirect_target(contact_id, current_actor())
        if survivor_id is None:
            # Recorded whether the id exists or is hidden (the answer is the same 404 to the user).
            audit.record("contact.view_denied", "contact", contact_id)
            raise
        return redirect(url_for("contacts.detail", contact_id=survivor_id))
    return _detail_page(contact)


def _detail_page(contact, note_form=None, status=200, **panel):
    """The contact page; ``panel`` holds the trust-and-safety panel's forms (see ``safety``)."""
    view = contact_page.build(contact, current_actor())
    return render_template("contacts/detail.html", view=view, notes=contact_notes.notes_of(contact),
                           followup_panel=contact_panel(contact), **safety.page_context(contact, **panel),
                           stage_form=StageForm(formdata=None), note_form=note_form or NoteForm(formdata=None)), status


def _edit_form(contact, formdata=None):
    form = ContactEditForm(formdata=formdata)
    if formdata is None:
        for name, value in contact_edit.current_values(contact).items():
            getattr(form, name).data = "" if value is None else str(value)
    seen = contact_edit.snapshot(contact)
    form.version_id.data = seen.version_id
    form.seen.data = json.dumps(seen.fingerprints, sort_keys=True)
    return form


def _seen(form):
    try:
        fingerprints = json.loads(form.seen.data or "{}")
        version = int(form.version_id.data)
    except (TypeError, ValueError):
        fingerprints, version = {}, -1
    return contact_edit.Snapshot(version, fingerprints if isinstance(fingerprints, dict) else {})


@bp.route("/<uuid:contact_id>/edit", methods=["GET", "POST"])
@require("contacts.edit")
def edit(contact_id):
    """Edit details; a concurrent edit is shown, never silently overwritten."""
    contact = _load(contact_id, "contacts.edit")
    user = current_actor()
    if request.method == "GET":
        audit.record("contact.view", "contact", contact.id, page="edit")
        return render_template("contacts/edit.html", contact=contact, form=_edit_form(contact), conflict=None)
    form = ContactEditForm()
    conflict = None
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in (*contact_edit.EDITABLE, "preferred_locale")}
        try:
            changed = contact_edit.update_contact(contact, values, _seen(form), user, crypto().phone_region)
            db.session.flush()
        except ValidationError as exc:
            attach_errors(form, exc.errors, "full_name")
        except contact_edit.EditConflict as exc:
            conflict = exc.changes
        except StaleDataError:
            # Someone saved in the same instant: start again from what is stored now.
            db.session.rollback()
            contact = _load(contact_id, "contacts.edit")
            conflict = contact_edit.changed_since(contact, _seen(form))
        else:
            flash(_("Saved.") if changed else _("Nothing changed."))
            return redirect(url_for("contacts.detail", contact_id=contact.id))
    if conflict is not None:
        # Keep what the user typed, but let the next save go through against the current version.
        seen = contact_edit.snapshot(contact)
        form.version_id.raw_data = None
        form.version_id.data = seen.version_id
        form.seen.data = json.dumps(seen.fingerprints, sort_keys=True)
    return render_template("contacts/edit.html", contact=contact, form=form, conflict=conflict), \
        409 if conflict is not None else 400


@bp.post("/<uuid:contact_id>/stage")
@require("contacts.edit")
def stage(contact_id):
    """Move one of the contact's paths to another stage (the timeline gets a row)."""
    contact = _load(contact_id, "contacts.edit")
    form = StageForm()
    user = current_actor()
    if not form.validate_on_submit() or form.path.data not in [c.path for c in permissions.visible_paths(user, contact)]:
        flash(_("Choose a path and a stage."), "error")
    else:
        try:
            contact_service.move_stage(contact.id, form.path.data, form.stage.data, actor_id=user.id)
        except ServiceError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Stage updated."))
    return redirect(url_for("contacts.detail", contact_id=contact.id) + "#paths")


@bp.post("/<uuid:contact_id>/notes")
@require("contacts.edit")
def add_note(contact_id):
    """Add a note (encrypted) to the contact's notes over time."""
    contact = _load(contact_id, "contacts.edit")
    form = NoteForm()
    if form.validate_on_submit():
        try:
            contact_notes.add_note(contact, form.body.data, current_actor())
        except ValidationError as exc:
            attach_errors(form, exc.errors, "body")
        else:
            flash(_("Note added."))
            return redirect(url_for("contacts.detail", contact_id=contact.id) + "#notes")
    return _detail_page(contact, note_form=form, status=400)


from . import safety  # noqa: E402  (adds the trust-and-safety actions to this blueprint)
