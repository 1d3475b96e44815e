"""Public pages: /join (and /<lang>/join), the thank-you page, confirmation, the privacy notice.

Every page exists with and without a language in the URL; with one, the page is
in that language and links keep it (``crm.i18n``). The thank-you page is the
answer to every acceptable submission, whoever was typed in.
"""
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.exceptions import RequestEntityTooLarge

from ..auth.views import client_key
from ..contacts.forms import attach_errors
from ..extensions import limiter
from ..i18n import LANGUAGES, current_language
from ..services import registration
from ..services.contacts import ValidationError
from . import antibot
from .forms import PATH_DESCRIPTIONS, CONTROL, ConfirmForm, JoinForm

bp = Blueprint("public", __name__)
LANG = "<any(" + ", ".join(LANGUAGES) + "):lang>"
TOKEN = "<string(minlength=16, maxlength=128):token>"
PAGE_CACHE = "muster.public_join_page"
CSRF_MARK, STARTED_MARK = "\x00csrf\x00", "\x00started\x00"

join_limit = limiter.limit(lambda: current_app.config["RATELIMIT_JOIN"], key_func=client_key,
                           methods=["POST"], scope="public-join")


def public_route(rule, **options):
    """Register ``rule`` twice: under ``/<lang>``, and plain (a GET there redirects to its language)."""

    def register(view):
        bp.add_url_rule(rule, view_func=view, **options)
        bp.add_url_rule(f"/{LANG}{rule}", view_func=view, **options)
        return view

    return register


@bp.before_request
def _language_in_the_url():
    """``/join`` -> ``/<negotiated language>/join``: every page then has a shareable URL in one language."""
    args = request.view_args or {}
    if request.method == "GET" and request.endpoint and not args.get("lang"):
        return redirect(url_for(request.endpoint, **dict(args, lang=current_language())))
    return None


@bp.app_template_global()
def field_attrs(field, hint=False, required=False):
    """ARIA attributes tying a field to its hint and errors (templates/public/_macros.html)."""
    ids = ([f"{field.id}-hint"] if hint else []) + ([f"{field.id}-error"] if field.errors else [])
    attrs = {"aria-describedby": " ".join(ids)} if ids else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    if required:
        attrs["required"] = True
    return attrs


def _thanks():
    return redirect(url_for("public.thanks", lang=current_language()))


def _data(form):
    return registration.RegistrationData(
        full_name=form.full_name.data, email=form.email.data, phone=form.phone.data or None,
        messenger=form.messenger.data or None, country=form.country.data or None,
        city=form.city.data or None, skills=form.skills.data or None,
        languages=form.languages.data or None, availability=form.availability.data or None,
        message=form.message.data or None, locale=form.locale.data, paths=tuple(form.paths.data),
        consent_version=current_app.config["CONSENT_VERSION"],
    )


def _confirm_link(lang):
    return lambda token: url_for("public.confirm", lang=lang, token=token, _external=True)


def _render_join(form, status=200, too_fast=False):
    form.started.data = antibot.fill_token()
    return render_template("public/join.html", form=form, descriptions=PATH_DESCRIPTIONS,
                           too_fast=too_fast), status


def _blank_join_page():
    """The empty form: rendered once per language, then only its two tokens change.

    Rendering the fields is most of a GET's cost, and the empty page differs between
    visitors only in the CSRF and fill-time tokens. Pages with a query string are
    rendered each time (they would let anyone fill the cache).
    """
    csrf_value, started = generate_csrf(), antibot.fill_token()
    cache = current_app.extensions.setdefault(PAGE_CACHE, {})
    key = (current_language(), request.path)
    cached = None if request.args else cache.get(key)
    if cached is None:
        form = JoinForm()
        form.locale.data, form.started.data = current_language(), started
        html = render_template("public/join.html", form=form, descriptions=PATH_DESCRIPTIONS, too_fast=False)
        if request.args or current_app.debug or html.count(csrf_value) != 1 or html.count(started) != 1:
            return html
        cached = cache[key] = html.replace(csrf_value, CSRF_MARK).replace(started, STARTED_MARK)
    return cached.replace(CSRF_MARK, csrf_value).replace(STARTED_MARK, started)


@public_route("/join", methods=["GET", "POST"])
@join_limit
def join(lang=None):
    """The join form; a valid submission is kept pending and answered by the thank-you page."""
    if request.method != "POST":
        return _blank_join_page()
    form = JoinForm(formdata=request.form)  # text fields only: never files or JSON values
    if form.website.data:
        return _thanks()  # a bot filled the honeypot: it learns nothing
    if not form.validate():
        return _render_join(form, 400)
    if not antibot.filled_in_time(form.started.data):
        return _render_join(form, 400, too_fast=True)
    if not antibot.email_allowed(form.email.data):
        return _thanks()  # this address was sent enough mail for now; same answer
    try:
        registration.submit(_data(form), _confirm_link(form.locale.data), client_address=request.remote_addr)
    except ValidationError as exc:
        attach_errors(form, {name: CONTROL for name in exc.errors}, "full_name")
        return _render_join(form, 400)
    return _thanks()


@public_route("/join/thanks")
def thanks(lang=None):
    """The same page after every acceptable submission."""
    return render_template("public/thanks.html")


@public_route(f"/join/confirm/{TOKEN}", methods=["GET", "POST"])
@join_limit
def confirm(token, lang=None):
    """GET shows a button (link scanners confirm nothing); its POST confirms once."""
    form = ConfirmForm(formdata=request.form if request.method == "POST" else None)
    if request.method == "POST":
        if form.validate() and registration.confirm(token):
            return render_template("public/confirmed.html")
        return render_template("public/link_invalid.html"), 404
    if not registration.link_is_open(token):
        return render_template("public/link_invalid.html"), 404
    return render_template("public/confirm.html", form=form)


@public_route("/privacy")
def privacy(lang=None):
    """The privacy notice, with the version of the consent text it belongs to."""
    return render_template("public/privacy.html", consent_version=current_app.config["CONSENT_VERSION"])


@bp.errorhandler(CSRFError)
def csrf_failed(error):
    """An expired or missing form token: ask to send again, in the public layout."""
    return render_template("public/problem.html", problem="csrf"), 400


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    return render_template("public/problem.html", problem="too_large"), 413


@bp.errorhandler(429)
def too_many(error):
    return render_template("public/problem.html", problem="too_many"), 429
