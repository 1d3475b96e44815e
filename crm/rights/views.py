"""The public data-rights pages: ask for a link, open it, download, correct, erase.

Every page exists at ``/my-data/...`` and ``/<lang>/my-data/...``. GETs only
show pages; everything that does something is a POST with a CSRF token. After
the link is opened, the session cookie holds only the link's id; each page
checks that session on the server (``rights.session_contact``). Every view of
the person's data is audited with the data subject as actor (no staff id, the
link's id in the details).
"""
import json

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db, limiter
from ..i18n import LANGUAGES
from ..security import audit
from ..security.crypto import crypto
from ..services import erasure, rights, rights_correct, rights_export
from ..services.contact_edit import Snapshot
from ..services.contacts import ValidationError
from . import labels
from .forms import AskForm, CorrectForm, EraseForm, ExportForm, OpenLinkForm
from .limits import client_key, email_key

bp = Blueprint("rights", __name__)
LANG = "/<any(" + ", ".join(LANGUAGES) + "):lang>"
SESSION_KEY = "rights_link"


def public_route(rule, **options):
    """Register ``rule`` both plain and under a language prefix (``/be/my-data``)."""
    def decorator(view):
        bp.add_url_rule(rule, view_func=view, **options)
        bp.add_url_rule(LANG + rule, view_func=view, **options)
        return view
    return decorator


def here(endpoint, **values):
    """A link to ``endpoint`` in the language this page was asked for."""
    lang = (request.view_args or {}).get("lang")
    if lang:
        values["lang"] = lang
    return url_for(endpoint, **values)


@bp.context_processor
def _page_helpers():
    return {"here": here}


def _locale():
    return str(get_locale() or "en")


def _rights_limit():
    return current_app.config["RATELIMIT_RIGHTS"]


@public_route("/my-data", methods=["GET", "POST"])
@limiter.limit(_rights_limit, key_func=client_key, methods=["POST"])
@limiter.limit(_rights_limit, key_func=email_key, methods=["POST"])
def ask(lang=None):
    """Ask for a link: the same answer, and the same work, for any address."""
    form = AskForm()
    if form.validate_on_submit():
        rights.ask_for_link(form.email.data, _locale())
        return render_template("rights/asked.html")
    status = 400 if request.method == "POST" else 200
    return render_template("rights/ask.html", form=form), status


@public_route("/my-data/link/<token>", methods=["GET", "POST"])
def link(token, lang=None):
    """Show the link's page (GET spends nothing); the button opens the session."""
    state = rights.check_token(token)
    if (state.reason == "used" and session.get(SESSION_KEY) == str(state.link.id)
            and _subject() is not None):
        return redirect(here("rights.manage"))  # the same browser, its session still open
    if not state.usable:
        return render_template("rights/link_invalid.html", reason=state.reason), 410
    form = OpenLinkForm()
    if request.method == "POST" and form.validate_on_submit():
        opened = rights.open_link(token)
        session[SESSION_KEY] = str(opened.id)
        return redirect(here("rights.manage"))
    return render_template("rights/link.html", form=form)


def _subject():
    """The contact of this browser's open link session, or None."""
    return rights.session_contact(session.get(SESSION_KEY))


def _ended():
    session.pop(SESSION_KEY, None)
    return render_template("rights/link_invalid.html", reason="ended"), 410


def _audit_view(contact, page):
    audit.record("contact.view", "contact", contact.id, by="data_subject", page=page,
                 link=session.get(SESSION_KEY))


@public_route("/my-data/me", methods=["GET"])
def manage(lang=None):
    """What we hold, in short, and the three things the person can do."""
    contact = _subject()
    if contact is None:
        return _ended()
    data = rights_export.build_export(contact)
    _audit_view(contact, "overview")
    return render_template("rights/manage.html", data=data, labels=labels, export_form=ExportForm(formdata=None))


@public_route("/my-data/export", methods=["POST"])
def export(lang=None):
    """Download everything: JSON (machine-readable) or a readable HTML page."""
    contact = _subject()
    if contact is None:
        return _ended()
    form = ExportForm()
    if not form.validate_on_submit():
        abort(400)
    data = rights_export.build_export(contact)
    audit.record("contact.export", "contact", contact.id, by="data_subject", format=form.format.data,
                 link=session.get(SESSION_KEY))
    if form.format.data == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
        response = make_response(body)
        response.mimetype = "application/json"
        filename = "my-data.json"
    else:
        response = make_response(render_template("rights/export.html", data=data, labels=labels))
        filename = "my-data.html"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _fill(form, contact):
    for name, value in rights_correct.current_values(contact).items():
        getattr(form, name).data = value
    _remember(form, contact)


def _remember(form, contact):
    seen = rights_correct.snapshot(contact)
    form.version_id.raw_data = None
    form.version_id.data = seen.version_id
    form.seen.data = json.dumps(seen.fingerprints, sort_keys=True)


def _seen(form):
    try:
        fingerprints = json.loads(form.seen.data or "{}")
        version = int(form.version_id.data)
    except (TypeError, ValueError):
        fingerprints, version = {}, -1
    return Snapshot(version, fingerprints if isinstance(fingerprints, dict) else {})


@public_route("/my-data/correct", methods=["GET", "POST"])
def correct(lang=None):
    """Correct one's own details; a change made by staff meanwhile is shown, not overwritten."""
    contact = _subject()
    if contact is None:
        return _ended()
    if request.method == "GET":
        form = CorrectForm(formdata=None)
        _fill(form, contact)
        _audit_view(contact, "correct")
        return render_template("rights/correct.html", form=form, conflict=False)
    form = CorrectForm()
    conflict = False
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in rights_correct.FIELDS}
        try:
            changed = rights_correct.correct(contact, values, _seen(form), crypto().phone_region)
            db.session.flush()
        except ValidationError as exc:
            for name in exc.errors:
                field = getattr(form, name, form.full_name)
                field.errors = list(field.errors or []) + [_("This value cannot be stored. Check it and try again.")]
        except (rights_correct.Conflict, StaleDataError):
            db.session.rollback()
            contact = _subject()
            if contact is None:
                return _ended()
            conflict = True
        else:
            return render_template("rights/corrected.html", changed=bool(changed))
    if conflict:
        _fill(form, contact)
    return render_template("rights/correct.html", form=form, conflict=conflict), 409 if conflict else 400


@public_route("/my-data/erase", methods=["GET", "POST"])
def erase(lang=None):
    """Withdraw consent and have everything erased: a confirmation, then a job."""
    contact = _subject()
    if contact is None:
        return _ended()
    form = EraseForm()
    if request.method == "POST" and form.validate_on_submit():
        erasure.request_erasure(contact, via="self")
        session.pop(SESSION_KEY, None)
        return render_template("rights/erasing.html")
    status = 400 if request.method == "POST" else 200
    return render_template("rights/erase.html", form=form), status


@public_route("/my-data/leave", methods=["POST"])
def leave(lang=None):
    """End the link session on this device at once."""
    form = OpenLinkForm()
    if not form.validate_on_submit():
        abort(400)
    rights.end_session(session.pop(SESSION_KEY, None))
    return redirect(here("rights.ask"))
