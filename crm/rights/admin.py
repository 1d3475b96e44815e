"""The admin's erasure action: a request received by letter, phone or in person."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..extensions import db
from ..models import Contact
from ..security import audit, permissions
from ..security.permissions import current_actor, require
from ..services import erasure
from .forms import AdminEraseForm
from .views import bp


@bp.route("/contacts/<uuid:contact_id>/erase", methods=["GET", "POST"])
@require("contacts.erase")
def admin_erase(contact_id):
    """Confirm, then queue the same erasure job the person's own request queues."""
    contact = permissions.load_visible(db.session, Contact, contact_id, current_actor(), "contacts.erase")
    form = AdminEraseForm()
    if request.method == "POST" and form.validate_on_submit():
        erasure.request_erasure(contact, via="admin")
        flash(_("The erasure has been queued; it completes within a minute."))
        return redirect(url_for("contacts.index"))
    if request.method == "GET":
        audit.record("contact.view", "contact", contact.id, page="erase")
    status = 400 if request.method == "POST" else 200
    return render_template("rights/admin_erase.html", contact=contact, form=form), status
