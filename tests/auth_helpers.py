"""Signing in through the real forms, for tests (used by the fixtures in conftest.py)."""
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pyotp
from flask import has_app_context
from flask.testing import FlaskClient

from crm.extensions import db
from crm.models import User
from crm.services import sessions

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CODE_RE = re.compile(r"<code>([a-z0-9-]{19})</code>")
# A password zxcvbn scores 4; the fixtures use it when a first password must be replaced.
NEW_PASSWORD = "Quiet-lantern-oxbow-47-marmalade"


class FreshContextClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    The session-wide app context of the ``app`` fixture would otherwise be reused by
    each request, and ``flask.g`` (Flask-Login's user, the CSRF token, the audit
    context) would leak from one request, and one client, to the next. The test's
    own ``db.session`` is then separate from the request's, so after each request the
    test's objects are expired: the next read sees what the request committed.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response


def csrf_token(client, path):
    """GET ``path`` and return the CSRF token of its form."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(client, path, data):
    """POST ``data`` to the form at ``path`` with a fresh CSRF token."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def fresh_user(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


def current_code(user):
    """A TOTP code the server will accept now: newer than the last one it accepted.

    Signing the same account in twice inside one 30-second step would reuse a
    code (refused by design); the fixture then steps the stored counter back,
    which only a test may do.
    """
    user = fresh_user(user)
    step = int(sessions.now().timestamp()) // 30
    if user.totp_last_step is not None and user.totp_last_step >= step:
        if user.totp_last_step == step:
            step += 1
        else:
            user.totp_last_step = None
            db.session.commit()
    return pyotp.TOTP(user.totp_secret).generate_otp(step)


def _path(response):
    return urlsplit(response.headers.get("Location", "")).path


def login_as(client, user, password, next_url=None):
    """Sign ``user`` in through the forms: password, forced change, TOTP enrolment or code.

    Returns the client, with ``client.password`` (the password now valid) and,
    after an enrolment, ``client.recovery_codes``.
    """
    data = {"login": user.login, "password": password}
    if next_url:
        data["next"] = next_url
    response = post_form(client, "/login", data)
    assert response.status_code == 302, f"password step refused ({response.status_code})"
    client.password = password
    for _ in range(4):
        path = _path(response)
        if path == "/login/new-password":
            response = post_form(client, path, {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
            assert response.status_code == 302, "new password refused"
            client.password = NEW_PASSWORD
        elif path == "/login/enrol":
            token = csrf_token(client, path)  # the GET creates the pending secret
            response = client.post(path, data={"code": current_code(user), "csrf_token": token})
            assert response.status_code == 200, f"enrolment refused ({response.status_code})"
            client.recovery_codes = CODE_RE.findall(response.get_data(as_text=True))
            return client
        elif path == "/login/code":
            response = post_form(client, path, {"code": current_code(user)})
            assert response.status_code == 302, f"code refused ({response.status_code})"
            return client
        else:
            raise AssertionError(f"unexpected step after sign-in: {path!r}")
    raise AssertionError("sign-in did not finish")


class Clock:
    """The sessions' clock, moved by hand (timeouts without sleeping)."""

    def __init__(self, start):
        self.now = start

    def advance(self, **delta):
        self.now += timedelta(**delta)


def install_clock(monkeypatch):
    """Replace ``crm.services.sessions.now`` (sessions, lockout and TOTP read it)."""
    fake = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    monkeypatch.setattr(sessions, "now", lambda: fake.now)
    return fake


def cookie_domain(app):
    return app.config.get("SERVER_NAME") or "localhost"


def session_cookie(client, app):
    """The decoded Flask session cookie of ``client`` (a dict), or {}."""
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), domain=cookie_domain(app))
    if cookie is None:
        return {}
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def sign_out(client):
    """POST the sign-out form of the account page."""
    token = csrf_token(client, "/account")
    return client.post("/logout", data={"csrf_token": token})


def is_signed_in(client):
    """True when the account page answers (a signed-out client is sent to sign-in)."""
    response = client.get("/account")
    return response.status_code == 200
