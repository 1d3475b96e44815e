"""``/admin/retention``: the next 30 days of retention, and holds and restores (admins).

Names are decrypted only for the rows shown, and one audit event lists their ids.
Every action is a POST with a reason where one is needed; a bad reason re-renders
the page with the message next to that person's field (400), nothing changed.
"""
from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ..extensions import db
from ..security.permissions import current_actor, require
from ..services import retention
from ..services.contacts import ValidationError
from .forms import ConfirmForm, ReasonForm

bp = Blueprint("retention", __name__, url_prefix="/admin/retention")


def _page(errors=None, status=200):
    user = current_actor()
    periods = retention.Periods.from_config(current_app.config)
    forecast = retention.forecast(periods)
    upcoming, more_upcoming = retention.page_rows(user, forecast.archive)
    erasing, more_erasing = retention.page_rows(user, forecast.erase)
    archived = retention.archived(user, periods)
    held = retention.held(user)
    retention.audit_shown({c.id for _d, c in (*upcoming, *erasing, *archived)} | {c.id for _h, c in held})
    return render_template(
        "retention/index.html", periods=periods, forecast=forecast, days=retention.FORECAST_DAYS,
        upcoming=upcoming, more_upcoming=more_upcoming, erasing=erasing, more_erasing=more_erasing,
        archived=archived, held=held, held_ids={c.id for _h, c in held}, errors=errors or {},
        reason_form=ReasonForm(formdata=None), confirm=ConfirmForm(formdata=None)), status


@bp.get("")
@require("contacts.erase")
def index():
    return _page()


def _with_reason(contact_id, action, done_message):
    form = ReasonForm()
    if not form.validate_on_submit():
        return _page({(contact_id, action): _("The form expired; send it again.")}, 400)
    try:
        action_fn = {"hold": retention.hold, "restore": retention.restore}[action]
        action_fn(contact_id, form.reason.data, current_actor())
    except ValidationError as exc:
        db.session.rollback()
        return _page({(contact_id, action): exc.errors.get("reason")}, 400)
    except retention.RetentionRefused as exc:
        db.session.rollback()
        return _page({(contact_id, action): str(exc)}, 400)
    flash(done_message)
    return redirect(url_for("retention.index"))


@bp.post("/<uuid:contact_id>/hold")
@require("contacts.erase")
def hold(contact_id):
    """Keep this person out of retention (never archived, never erased) until released."""
    return _with_reason(contact_id, "hold", _("Held out of retention."))


@bp.post("/<uuid:contact_id>/restore")
@require("contacts.erase")
def restore(contact_id):
    """Bring an archived person back into every list; the reason becomes a note."""
    return _with_reason(contact_id, "restore", _("Restored from the archive."))


@bp.post("/<uuid:contact_id>/release")
@require("contacts.erase")
def release(contact_id):
    """End a hold: the retention rules apply again."""
    if not ConfirmForm().validate_on_submit():
        return _page({(contact_id, "release"): _("The form expired; send it again.")}, 400)
    retention.release(contact_id, current_actor())
    flash(_("The hold was released."))
    return redirect(url_for("retention.index"))
