"""Security headers on every response, no inline script or style, friendly translated error pages."""
import hashlib
import re
from pathlib import Path

import pytest
from werkzeug.exceptions import BadRequest, TooManyRequests

from crm.core.errors import MESSAGES
from tests.integration.route_walk import PERSONAS, build_world, requests_for, send

ROOT = Path(__file__).resolve().parents[2]
WALKED = [p for p in PERSONAS if p.name in ("anonymous", "staff", "coordinator", "admin-cleared")]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\s(on[a-z]+)\s*=", re.I)
INLINE_STYLE = re.compile(r"<style\b|<[^>]+\sstyle\s*=", re.I)
EXTERNAL_URL = re.compile(r"""(?:src|href|action)\s*=\s*["'](?:https?:)?//""", re.I)


def assert_security_headers(response, where):
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp, where
    assert "frame-ancestors 'none'" in csp, where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert "camera=()" in headers.get("Permissions-Policy", ""), where
    assert headers.get("X-Request-Id"), where


def assert_clean_html(body, where):
    assert not INLINE_SCRIPT.search(body), f"inline <script> on {where}"
    assert not INLINE_HANDLER.search(body), f"inline event handler on {where}"
    assert not INLINE_STYLE.search(body), f"inline style on {where}"
    assert not EXTERNAL_URL.search(body), f"a third-party URL on {where}"


@pytest.mark.parametrize("persona", WALKED, ids=lambda p: p.name)
def test_every_route_answers_with_the_security_headers(persona, app, signed_in, make_user, make_contact):
    world = build_world(persona, app, signed_in, make_user, make_contact)
    pages = 0
    for rule, method, path in requests_for(app, world):
        if rule.endpoint in ("auth.logout", "auth.logout_everywhere"):
            continue
        response = send(world.client, method, path)
        where = f"{persona.name} {method} {rule.rule} ({response.status_code})"
        assert_security_headers(response, where)
        if rule.endpoint != "static":
            assert response.headers.get("Cache-Control") == "no-store", where
        if response.mimetype == "text/html":
            assert_clean_html(response.get_data(as_text=True), where)
            pages += 1
    assert pages > 3


def test_static_files_are_cacheable_but_still_carry_the_headers(client):
    response = client.get("/static/css/muster.css")
    assert response.status_code == 200
    assert_security_headers(response, "static")
    assert response.headers.get("Cache-Control") != "no-store"


def test_vendored_files_match_their_recorded_hashes():
    listing = (ROOT / "crm/static/vendor/VENDORED.md").read_text()
    rows = re.findall(r"\| `([^`]+)` \|[^\n]*\| `([0-9a-f]{64})` \|", listing)
    assert rows, "VENDORED.md lists no files"
    vendor = ROOT / "crm/static/vendor"
    listed = {name for name, _ in rows}
    for name, digest in rows:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    shipped = {str(p.relative_to(vendor)) for p in vendor.rglob("*.js")} | {
        str(p.relative_to(vendor)) for p in vendor.rglob("*.css")}
    assert shipped <= listed, f"vendored but not listed: {shipped - listed}"


MARKER = "Zoryana-Marker-7731"


def _error_responses(app, client, signed_in, monkeypatch):
    """One response per error status, each provoked for real where the app allows it."""
    staff = signed_in("staff")
    yield 400, client.post("/login", data={"login": MARKER, "password": MARKER})  # no CSRF token
    yield 403, staff.get("/admin/users")
    yield 404, client.get(f"/no-such-page-{MARKER}")
    yield 405, client.post("/healthz")
    yield 413, client.post("/login", data={"login": MARKER, "blob": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)})

    def bad():
        raise BadRequest(f"could not parse {MARKER}")

    def too_many():
        raise TooManyRequests(f"limit for {MARKER}")

    def broken():
        raise RuntimeError(f"database said something about {MARKER}")

    monkeypatch.setitem(app.view_functions, "core.healthz", bad)
    yield 400, client.get("/healthz")
    monkeypatch.setitem(app.view_functions, "core.healthz", too_many)
    yield 429, client.get("/healthz")
    monkeypatch.setitem(app.view_functions, "core.healthz", broken)
    yield 500, client.get("/healthz")


def test_error_pages_are_friendly_and_leak_nothing(app, client, signed_in, monkeypatch, captured_logs):
    seen = set()
    for code, response in _error_responses(app, client, signed_in, monkeypatch):
        body = response.get_data(as_text=True)
        assert response.status_code == code, (code, response.status_code)
        if "CSRF" not in body:  # the sign-in helper explains a missing CSRF token on its own page
            assert str(MESSAGES[code][0]) in body, code
        assert MARKER not in body and "Traceback" not in body and 'File "' not in body, code
        assert_security_headers(response, f"error {code}")
        assert response.headers.get("Cache-Control") == "no-store"
        assert_clean_html(body, f"error {code}")
        seen.add(code)
    assert seen == {400, 403, 404, 405, 413, 429, 500}
    assert not any(MARKER in line for line in captured_logs)


def test_method_not_allowed_keeps_its_allow_header(client):
    response = client.post("/healthz")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


TITLES_404 = {"be": "Старонка не знойдзена", "ru": "Страница не найдена", "uk": "Сторінку не знайдено",
              "pl": "Nie znaleziono strony", "en": "Page not found"}


@pytest.mark.parametrize("lang", sorted(TITLES_404))
def test_error_pages_speak_the_browsers_language(client, lang):
    response = client.get("/nowhere", headers={"Accept-Language": f"{lang}-XX,{lang};q=0.9,en;q=0.5"})
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert TITLES_404[lang] in body
    assert f'<html lang="{lang}"' in body


def test_every_error_page_is_translated_into_every_language(app):
    from flask_babel import force_locale, gettext

    for lang in ("be", "ru", "uk", "pl"):
        with app.test_request_context(), force_locale(lang):
            for code, (title, message) in MESSAGES.items():
                assert gettext(title._args[0]) != title._args[0], (lang, code)
                assert gettext(message._args[0]) != message._args[0], (lang, code)


def test_an_unknown_language_falls_back_to_english(client):
    body = client.get("/nowhere", headers={"Accept-Language": "xx, zz;q=0.8"}).get_data(as_text=True)
    assert "Page not found" in body and '<html lang="en"' in body


SIGN_IN = {"be": ("Увайсці", "Імя карыстальніка"), "ru": ("Войти", "Имя пользователя"),
           "uk": ("Увійти", "Ім'я користувача"), "pl": ("Zaloguj się", "Nazwa użytkownika")}


@pytest.mark.parametrize("lang", sorted(SIGN_IN))
def test_the_sign_in_page_and_layout_speak_the_browsers_language(client, lang):
    body = client.get("/login", headers={"Accept-Language": lang}).get_data(as_text=True)
    title, label = SIGN_IN[lang]
    assert f"<h1>{title}</h1>" in body
    assert label in body
    assert {"be": "Перайсці да зместу", "ru": "Перейти к содержимому", "uk": "Перейти до вмісту",
            "pl": "Przejdź do treści"}[lang] in body


def test_when_even_the_error_page_fails_a_plain_page_still_answers(app, client, monkeypatch):
    from crm.security import permissions

    def broken(*args, **kwargs):
        raise RuntimeError(f"the database is gone {MARKER}")

    monkeypatch.setitem(app.view_functions, "core.healthz", broken)
    monkeypatch.setattr(permissions, "current_actor", broken)
    response = client.get("/healthz")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Error 500" in body and MARKER not in body and "Traceback" not in body
    assert_security_headers(response, "fallback 500")
    assert_clean_html(body, "fallback 500")
