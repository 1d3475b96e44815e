"""Duplicate review: the list of candidate pairs, the merge screen, recent merges and undo.

Pair ids travel in URLs (opaque UUIDs only). Every contact is loaded through
the permission helpers, so a contact the user may not see answers 404. The
merge commits once, at the end of the request; a concurrent edit of either
contact shows the merge screen again with a clear message (409).
"""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from ..errors import ServiceError
from ..extensions import db
from ..jobs import enqueue
from ..security import audit
from ..security.permissions import current_actor, require
from ..services import duplicates as duplicate_service
from ..services import merge as merge_service
from .forms import DismissForm, MergeForm, UndoForm

bp = Blueprint("duplicates", __name__, url_prefix="/duplicates")


@bp.get("/")
@require("triage.work")
def index():
    """Candidate pairs, confirmed by decryption, a page at a time (keyset cursor)."""
    cursor = request.args.get("after") or None
    page = duplicate_service.pair_page(current_actor(), cursor=cursor)
    return render_template("duplicates/index.html", page=page, cursor=cursor or "",
                           dismiss_form=DismissForm(formdata=None), refreshed=duplicate_service.last_refresh())


@bp.post("/refresh")
@require("triage.work")
def refresh():
    """Queue a new search for candidate pairs (a job: it takes seconds on a large database)."""
    form = UndoForm()
    if form.validate_on_submit():
        enqueue("workers.jobs.refresh_duplicates", job_id="refresh-duplicates", retries=0,
                timeout=duplicate_service.REFRESH_TIMEOUT)
        db.session.commit()
        flash(_("Looking for duplicates again; reload this page in a minute."))
    else:
        flash(_("The form expired; try again."), "error")
    return redirect(url_for("duplicates.index"))


@bp.post("/dismiss")
@require("triage.work")
def dismiss():
    """Remember a pair as "not the same person"; it leaves the list for everyone."""
    form = DismissForm()
    cursor = form.cursor.data if duplicate_service.parse_cursor(form.cursor.data) else None
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
    else:
        duplicate_service.dismiss(form.first.data, form.second.data, current_actor())
        flash(_("Marked as not the same person."))
    return redirect(url_for("duplicates.index", after=cursor) if cursor else url_for("duplicates.index"))


def _merge_page(survivor, merged, form, conflict=None, status=200):
    user = current_actor()
    for contact in (survivor, merged):
        audit.record("contact.view", "contact", contact.id, page="merge")
    sides = [merge_service.side_view(contact, user) for contact in (survivor, merged)]
    return render_template("duplicates/merge.html", survivor=survivor, merged=merged, sides=sides,
                           fields=merge_service.MERGE_FIELDS, form=form, conflict=conflict), status


def _fresh_form(survivor, merged):
    form = MergeForm(formdata=None)
    take = merge_service.default_choices(survivor, merged)
    for name in merge_service.MERGE_FIELDS:
        getattr(form, name).data = "merged" if name in take else "survivor"
    form.survivor_version.data = survivor.version_id
    form.merged_version.data = merged.version_id
    return form


@bp.route("/merge/<uuid:survivor_id>/<uuid:merged_id>", methods=["GET", "POST"])
@require("triage.work")
def merge(survivor_id, merged_id):
    """Side by side: choose each field; the second contact is merged into the first."""
    user = current_actor()
    survivor, merged = duplicate_service.load_pair(survivor_id, merged_id, user)
    if request.method == "GET":
        return _merge_page(survivor, merged, _fresh_form(survivor, merged))
    form = MergeForm()
    if not form.validate_on_submit():
        return _merge_page(survivor, merged, form, status=400)
    take = frozenset(name for name in merge_service.MERGE_FIELDS if getattr(form, name).data == "merged")
    merge_request = merge_service.MergeRequest(survivor.id, merged.id, form.survivor_version.data,
                                               form.merged_version.data, take)
    try:
        merge_service.merge(merge_request, user)
        db.session.commit()
    except merge_service.MergeConflict as exc:
        db.session.rollback()
        return _conflict(survivor_id, merged_id, str(exc), form)
    except StaleDataError:
        db.session.rollback()
        return _conflict(survivor_id, merged_id, _("One of these contacts was changed by someone else "
                                                   "while you were merging; check the values again."), form)
    except ServiceError as exc:
        db.session.rollback()
        survivor, merged = duplicate_service.load_pair(survivor_id, merged_id, user)
        return _merge_page(survivor, merged, form, conflict=str(exc), status=400)
    flash(_("Merged. You can undo this from the list of recent merges for %(days)d days.",
            days=merge_service.undo_days()))
    return redirect(url_for("contacts.detail", contact_id=survivor_id))


def _conflict(survivor_id, merged_id, message, form):
    """The merge screen again with what is stored now; the user's choices are kept."""
    survivor, merged = duplicate_service.load_pair(survivor_id, merged_id, current_actor())
    form.survivor_version.raw_data = form.merged_version.raw_data = None
    form.survivor_version.data, form.merged_version.data = survivor.version_id, merged.version_id
    return _merge_page(survivor, merged, form, conflict=message, status=409)


@bp.get("/merges")
@require("triage.work")
def merges():
    """Recent merges the user may see, with an undo button while the window is open."""
    return render_template("duplicates/merges.html", merges=merge_service.recent_merges(current_actor()),
                           undo_form=UndoForm(formdata=None), days=merge_service.undo_days())


@bp.post("/merges/<uuid:merge_id>/undo")
@require("triage.work")
def undo(merge_id):
    """Undo a merge: the merged-away contact comes back with what it brought."""
    form = UndoForm()
    user = current_actor()
    record = merge_service.load_merge(merge_id, user)
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for("duplicates.merges"))
    try:
        result = merge_service.undo(record.id, user)
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        flash(_("The contact was changed by someone else at the same moment; try again."), "error")
        return redirect(url_for("duplicates.merges"))
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("duplicates.merges"))
    if result.kept:
        flash(_("Merge undone. Fields edited since the merge were left as they are now."))
    else:
        flash(_("Merge undone."))
    return redirect(url_for("contacts.detail", contact_id=result.restored.id))
