"""Languages of the staff pages: Flask-Babel, a locale picked from Accept-Language.

The catalogs live as ``translations/<lang>/LC_MESSAGES/messages.po`` in the
repository; the compiled ``.mo`` files are build output (git-ignored). So that
no build step can be forgotten, ``init_app`` compiles any missing or stale
catalog into ``<INSTANCE_DIR>/translations`` when the app starts (a few
milliseconds; written atomically, so several processes may start at once).
``pybabel compile -d translations`` also works for tools that want them in place.
"""
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import has_request_context, request
from flask_babel import Babel, get_locale

LANGUAGES = ("en", "be", "ru", "uk", "pl")
DEFAULT_LOCALE = "en"
SOURCE_DIR = Path(__file__).resolve().parent.parent / "translations"

babel = Babel()


def select_locale():
    """The best of our languages for this request's Accept-Language (English otherwise)."""
    if not has_request_context():
        return DEFAULT_LOCALE  # CLI commands and jobs: mails choose their own locale
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LOCALE)


def compile_catalogs(source=SOURCE_DIR, target=None):
    """Compile each ``messages.po`` under ``source`` whose ``.mo`` in ``target`` is missing or older."""
    target = Path(target or source)
    compiled = []
    for po_path in sorted(Path(source).glob("*/LC_MESSAGES/messages.po")):
        lang = po_path.parent.parent.name
        mo_path = target / lang / "LC_MESSAGES" / "messages.mo"
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
        compiled.append(lang)
    return compiled


def html_lang():
    """The language of the page being rendered, for ``<html lang>``."""
    try:
        return str(get_locale() or DEFAULT_LOCALE).replace("_", "-")
    except RuntimeError:
        return DEFAULT_LOCALE


def init_app(app):
    compiled_dir = Path(app.config["INSTANCE_DIR"]) / "translations"
    compile_catalogs(SOURCE_DIR, compiled_dir)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(compiled_dir))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["html_lang"] = html_lang
