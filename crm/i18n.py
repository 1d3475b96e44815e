"""Languages: Flask-Babel with three gettext domains and a locale from URL, cookie or browser.

Strings are split into domains by owner (``messages``: staff UI, ``public``:
join form and privacy notice, ``rights``: people's data-rights pages), so each
domain's catalogs are edited by one person; ``babel/<domain>.cfg`` decides which
source file feeds which domain. At run time the three are merged into one
translation table per language, so ``_()`` works everywhere.

The catalogs live as ``translations/<lang>/LC_MESSAGES/<domain>.po`` in the
repository; the compiled ``.mo`` files are build output (git-ignored). So that
no build step can be forgotten, ``init_app`` compiles any missing or stale
catalog into ``<INSTANCE_DIR>/translations`` when the app starts (a few
milliseconds; written atomically, so several processes may start at once).
``python -m crm.i18n_tools extract|check`` maintains the catalogs.
"""
import os
import tempfile
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import current_app, has_request_context, request, url_for
from flask_babel import Babel, Domain, get_domain, get_locale

LANGUAGES = ("en", "be", "ru", "uk", "pl")
# Each language named in itself, for switchers.
LANGUAGE_NAMES = {"en": "English", "be": "Беларуская", "ru": "Русский", "uk": "Українська", "pl": "Polski"}
DEFAULT_LOCALE = "en"
DOMAINS = ("messages", "public", "rights")
COOKIE_NAME = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
SOURCE_DIR = Path(__file__).resolve().parent.parent / "translations"

babel = Babel()


def select_locale():
    """This request's language: the URL's ``lang`` view arg, else the ``lang`` cookie,
    else the best match for Accept-Language, else English. Unknown values are ignored."""
    if not has_request_context():
        return DEFAULT_LOCALE  # CLI commands and jobs: mails choose their own locale
    from_url = (request.view_args or {}).get("lang")
    if from_url in LANGUAGES:
        return from_url
    from_cookie = request.cookies.get(COOKIE_NAME)
    if from_cookie in LANGUAGES:
        return from_cookie
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LOCALE)


def current_language():
    """The language of the page being rendered, as one of ``LANGUAGES``."""
    try:
        lang = str(get_locale() or DEFAULT_LOCALE)
    except RuntimeError:
        return DEFAULT_LOCALE
    return lang if lang in LANGUAGES else DEFAULT_LOCALE


def html_lang():
    """The language of the page being rendered, for ``<html lang>``."""
    return current_language()


def url_in_language(lang):
    """The URL of this page in ``lang`` (query kept), or None when the page's URL holds no
    language (staff pages: their language comes from the cookie, see ``core.language``)."""
    if lang not in LANGUAGES or not request.endpoint or "lang" not in (request.view_args or {}):
        return None
    values = dict(request.view_args, lang=lang)
    for key, items in request.args.lists():
        if key not in values:
            values[key] = items if len(items) > 1 else items[0]
    return url_for(request.endpoint, **values)


def language_links():
    """One entry per language for a switcher: (code, own name, URL or None, is current)."""
    here = current_language()
    return [(code, LANGUAGE_NAMES[code], url_in_language(code), code == here) for code in LANGUAGES]


# English pages write dates the European way (29 Nov 2026, 14:05), not the US way.
FORMAT_LOCALES = {"en": "en_GB"}


def formatting_locale():
    lang = current_language()
    return FORMAT_LOCALES.get(lang, lang)


def _plain(value):
    """Aware datetimes as UTC wall time (pages label them UTC); naive ones are shown as they are."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def format_day(value):
    """``|day``: a date (or a datetime's date) in the page's language, e.g. «29 лист. 2026 г.»."""
    if value is None:
        return ""
    value = _plain(value)
    return babel_dates.format_date(value.date() if isinstance(value, datetime) else value, "medium",
                                   locale=formatting_locale())


def format_moment(value, seconds=False):
    """``|moment``: date and time (minutes; ``seconds=True`` for logs) in the page's language."""
    if value is None:
        return ""
    value = _plain(value)
    if not isinstance(value, datetime):
        return format_day(value) if isinstance(value, date) else str(value)
    locale = formatting_locale()
    day = babel_dates.format_date(value.date(), "medium", locale=locale)
    time = babel_dates.format_time(value.time(), "medium" if seconds else "short", locale=locale)
    return babel_dates.get_datetime_format("medium", locale=locale).replace("{1}", day).replace("{0}", time)


def format_count(value):
    """``|number``: an integer with the page language's digit grouping (12 345, 12,345)."""
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    try:
        return babel_numbers.format_decimal(value, locale=formatting_locale())
    except (TypeError, ValueError):
        return str(value)


def return_path():
    """Where the language switcher comes back to: this page's path (no query: it may carry
    someone else's ``next=`` or search), if it is a plain local path; else nothing."""
    from .auth.redirects import safe_next

    return safe_next(request.path) or ""


def _fill_lang(endpoint, values):
    """``url_for`` of a route with a ``<lang>`` part gets the page's language unless given."""
    if "lang" in values or not endpoint:
        return
    from flask import current_app

    if current_app.url_map.is_endpoint_expecting(endpoint, "lang"):
        values["lang"] = current_language()


def area_of_path(path):
    """The domain a template or module belongs to, by the same paths as ``babel/<domain>.cfg``:
    ``public/join.html``, ``mail/rights/link.txt``, ``crm/public/forms.py``..."""
    parts = str(path).replace("\\", "/").split("/")
    for skip in (("templates",), ("crm",), ("mail",)):
        if parts[:1] == list(skip):
            parts = parts[1:]
    return parts[0] if len(parts) > 1 and parts[0] in DOMAINS[1:] else "messages"


def _domains():
    """One Flask-Babel domain per area, loading all three catalogs with the area's own last: where
    two domains translate the same msgid differently (a stage named for staff, the same word
    addressed to the person on the rights pages), the page's own wording wins."""
    app = current_app._get_current_object()
    domains = app.extensions.get("muster_domains")
    if domains is None:
        domains = {area: Domain(domain=";".join([d for d in DOMAINS if d != area] + [area]))
                   for area in DOMAINS}
        app.extensions["muster_domains"] = domains
    return domains


@contextmanager
def preferring(area):
    """Translate with ``area``'s wording first (mails rendered by jobs: see ``crm.services.mail``)."""
    previous = get_domain()
    _domains()[area if area in DOMAINS else "messages"].as_default()
    try:
        yield
    finally:
        previous.as_default()


def _prefer_the_pages_area():
    _domains()[request.blueprint if request.blueprint in DOMAINS[1:] else "messages"].as_default()


def compile_catalogs(source=SOURCE_DIR, target=None):
    """Compile each ``<lang>/LC_MESSAGES/<domain>.po`` under ``source`` whose ``.mo`` in
    ``target`` is missing or older. Returns the languages that had a catalog compiled."""
    target = Path(target or source)
    compiled = []
    for po_path in sorted(Path(source).glob("*/LC_MESSAGES/*.po")):
        lang = po_path.parent.parent.name
        mo_path = target / lang / "LC_MESSAGES" / (po_path.stem + ".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        fd, tmp = tempfile.mkstemp(dir=mo_path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog)
            os.replace(tmp, mo_path)
        except BaseException:
            os.unlink(tmp)
            raise
        if lang not in compiled:
            compiled.append(lang)
    return compiled


def init_app(app):
    compiled_dir = Path(app.config["INSTANCE_DIR"]) / "translations"
    compile_catalogs(SOURCE_DIR, compiled_dir)
    # Flask-Babel pairs the n-th domain with the n-th directory: the same directory thrice.
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join([str(compiled_dir)] * len(DOMAINS)))
    app.config.setdefault("BABEL_DOMAIN", ";".join(DOMAINS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(_prefer_the_pages_area)
    app.url_defaults(_fill_lang)
    app.jinja_env.globals.update(html_lang=html_lang, url_in_language=url_in_language,
                                 language_links=language_links, language_return_path=return_path)
    app.jinja_env.filters.update(day=format_day, moment=format_moment, number=format_count)
