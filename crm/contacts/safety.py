"""Contact page actions for trust and safety: edit the safety fields, vouch, find a member.

Added to the contacts blueprint (imported at the end of ``views``). The safety form is
guarded like the details form: a concurrent change of the same fields is shown (409),
never overwritten. A vouch refused by the rules is flashed; its audit event stays.
"""
import json

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from ..errors import NotFound
from ..extensions import db
from ..models import Contact
from ..security import permissions
from ..security.permissions import current_actor, require
from ..services import safety_edit, trust
from ..services.contact_edit import EditConflict
from ..services.contacts import ValidationError
from .forms import MemberSearchForm, SafetyForm, attach_errors
from .views import _detail_page, _load, _seen, bp


def _fill(form, contact):
    seen = safety_edit.snapshot(contact)
    form.version_id.raw_data = None
    form.version_id.data = seen.version_id
    form.seen.data = json.dumps(seen.fingerprints, sort_keys=True)
    return form


def page_context(contact, safety_form=None, member_form=None, members=None, safety_conflict=None):
    """What the trust-and-safety panel of the contact page needs."""
    user = current_actor()
    if safety_form is None:
        safety_form = SafetyForm(formdata=None)
        for name in safety_edit.SAFETY_FIELDS:
            value = getattr(contact, name)
            getattr(safety_form, name).data = value if isinstance(value, bool) else (value or "")
        _fill(safety_form, contact)
    vouch_self, vouch_member = safety_edit.may_vouch(contact, user)
    return {"safety_form": safety_form, "member_form": member_form or MemberSearchForm(formdata=None),
            "members": members, "safety_conflict": safety_conflict, "vouch_self": vouch_self,
            "vouch_member": vouch_member, "trust_view": safety_edit.trust_view(contact, user)}


def _back(contact, anchor="trust"):
    return redirect(url_for("contacts.detail", contact_id=contact.id) + "#" + anchor)


@bp.post("/<uuid:contact_id>/safety")
@require("contacts.edit")
def safety(contact_id):
    """Save the safety fields; a concurrent change of them is shown, not overwritten."""
    contact = _load(contact_id, "contacts.edit")
    user = current_actor()
    form = SafetyForm()
    if not form.validate_on_submit():
        form.safe_times.errors = list(form.safe_times.errors or []) + [_("The form expired; send it again.")]
        return _detail_page(contact, safety_form=_fill(form, contact), status=400)
    data = trust.SafetyData(
        safe_channel=form.safe_channel.data or None, do_not_email=form.do_not_email.data,
        do_not_text=form.do_not_text.data, do_not_call=form.do_not_call.data,
        safe_times=form.safe_times.data, relatives_at_risk=form.relatives_at_risk.data)
    conflict = None
    try:
        changed = safety_edit.save(contact, data, _seen(form), user)
        db.session.flush()
    except ValidationError as exc:
        attach_errors(form, exc.errors, "safe_times")
        return _detail_page(contact, safety_form=form, status=400)
    except EditConflict as exc:
        conflict = sorted(exc.changes)
    except StaleDataError:
        db.session.rollback()
        contact = _load(contact_id, "contacts.edit")
        conflict = safety_edit.changed_since(contact, _seen(form))
    if conflict is not None:
        # Keep what the user ticked; the next save goes through against the current version.
        return _detail_page(contact, safety_form=_fill(form, contact), safety_conflict=conflict, status=409)
    if not permissions.visible(user, contact):
        flash(_("Saved. This record is now visible only to users with clearance."))
        return redirect(url_for("contacts.index"))
    flash(_("Saved.") if changed else _("Nothing changed."))
    return _back(contact)


@bp.post("/<uuid:contact_id>/vouch/members")
@require("contacts.assign")
def vouch_members(contact_id):
    """Find the active, vetted member (among those the user may see) whose vouch to record."""
    contact = _load(contact_id, "contacts.assign")
    form = MemberSearchForm()
    if form.validate_on_submit() and (form.q.data or "").strip():
        members = safety_edit.find_members(form.q.data, contact, current_actor())
        return _detail_page(contact, member_form=form, members=members)
    form.q.errors = [_("Type a name, an email or a phone number.")]
    return _detail_page(contact, member_form=form, status=400)


@bp.post("/<uuid:contact_id>/vouch")
@require("contacts.assign")
def vouch(contact_id):
    """Vouch in one's own name, or record the vouch of the member chosen from the search."""
    contact = _load(contact_id, "contacts.assign")
    user = current_actor()
    form = MemberSearchForm()  # the CSRF token; ``member_id`` comes as a plain field
    if not form.validate_on_submit():
        flash(_("The form expired; send it again."), "error")
        return _back(contact)
    member = None
    member_id = request.form.get("member_id")
    if member_id:
        try:
            member = permissions.load_visible(db.session, Contact, member_id, user)
        except NotFound:
            flash(_("Choose a member from the search results."), "error")
            return _back(contact)
    try:
        changed = trust.vouch(contact, user, on_behalf_of=member)
    except trust.TrustRefused as exc:
        flash(str(exc), "error")
        return _back(contact)
    flash(_("Vouched for.") if changed else _("Already vouched for or vetted: nothing changed."))
    return _back(contact)
