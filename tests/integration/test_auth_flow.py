"""Signing in: password, forced password change, TOTP enrolment, codes, recovery codes."""
import re

import pyotp
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, RecoveryCode, UserSession
from tests.auth_helpers import (NEW_PASSWORD, cookie_domain, csrf_token, current_code, fresh_user,
                                is_signed_in, post_form, session_cookie, sign_out)


def actions():
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_first_sign_in_changes_password_enrols_totp_and_shows_codes_once(client, make_user, clock):
    user, one_time = make_user("falcon", role="staff")
    response = post_form(client, "/login", {"login": "falcon", "password": one_time})
    assert response.headers["Location"] == "/login/new-password"
    assert not is_signed_in(client), "half-way through sign-in the app must see nobody"

    weak = post_form(client, "/login/new-password", {"new_password": "password1234", "confirm": "password1234"})
    assert weak.status_code == 400 and "field-error" in weak.get_data(as_text=True)
    short = post_form(client, "/login/new-password", {"new_password": "Xk3!a", "confirm": "Xk3!a"})
    assert short.status_code == 400 and "at least 12 characters" in short.get_data(as_text=True)
    response = post_form(client, "/login/new-password", {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.headers["Location"] == "/login/enrol"

    page = client.get("/login/enrol").get_data(as_text=True)
    secret = fresh_user(user).totp_secret
    assert re.sub(r"\s", "", re.search(r'id="totp-secret">([^<]+)<', page).group(1)) == secret
    assert 'src="data:image/svg+xml' in page, "the QR code is rendered by the app itself"
    assert fresh_user(user).totp_secret_ct is not None and secret.encode() not in fresh_user(user).totp_secret_ct

    wrong = post_form(client, "/login/enrol", {"code": "000000" if current_code(user) != "000000" else "111111"})
    assert wrong.status_code == 400 and not fresh_user(user).totp_enabled
    token = csrf_token(client, "/login/enrol")
    done = client.post("/login/enrol", data={"code": current_code(user), "csrf_token": token})
    assert done.status_code == 200
    codes = re.findall(r"<code>([a-z0-9-]{19})</code>", done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and not set(codes) & set(stored), "codes are stored as digests"

    assert is_signed_in(client)
    assert fresh_user(user).totp_enabled and not fresh_user(user).must_change_password
    assert "<code>" not in client.get("/account/recovery-codes").get_data(as_text=True), "shown once"
    assert {"auth.password.change", "auth.totp.enrol", "auth.login.ok"} <= set(actions())


def test_abandoned_enrolment_is_asked_again_with_the_same_secret(client, make_user, login_as, app):
    user, one_time = make_user("heron")
    post_form(client, "/login", {"login": "heron", "password": one_time})
    post_form(client, "/login/new-password", {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    client.get("/login/enrol")
    first_secret = fresh_user(user).totp_secret

    other = app.test_client()
    response = post_form(other, "/login", {"login": "heron", "password": NEW_PASSWORD})
    assert response.headers["Location"] == "/login/enrol", "no second factor until a code confirmed it"
    other.get("/login/enrol")
    assert fresh_user(user).totp_secret == first_secret


def test_second_sign_in_asks_for_a_code_and_honours_next(signed_in, app, clock):
    client = signed_in("coordinator")
    sign_out(client)
    assert not is_signed_in(client)
    response = post_form(client, "/login", {"login": client.user.login, "password": client.password,
                                            "next": "/account"})
    assert response.headers["Location"] == "/login/code"
    response = post_form(client, "/login/code", {"code": current_code(client.user)})
    assert response.status_code == 302 and response.headers["Location"] == "/account"


def test_forged_next_is_ignored(signed_in, clock):
    client = signed_in("staff")
    sign_out(client)
    post_form(client, "/login", {"login": client.user.login, "password": client.password,
                                 "next": "//evil.example/x"})
    response = post_form(client, "/login/code", {"code": current_code(client.user)})
    assert response.headers["Location"] == "/"
    sign_out(client)
    response = client.get("/login?next=/%09/evil.example")
    assert "evil" not in response.get_data(as_text=True)


def test_a_totp_code_is_refused_the_second_time(signed_in, clock):
    client = signed_in("staff")
    sign_out(client)
    post_form(client, "/login", {"login": client.user.login, "password": client.password})
    code = current_code(client.user)
    assert post_form(client, "/login/code", {"code": code}).status_code == 302
    sign_out(client)
    post_form(client, "/login", {"login": client.user.login, "password": client.password})
    replay = post_form(client, "/login/code", {"code": code})
    assert replay.status_code == 401 and not is_signed_in(client)
    assert "auth.totp.replay" in actions()


def test_a_recovery_code_works_once(signed_in, clock):
    client = signed_in("staff")
    code = client.recovery_codes[0]
    for attempt in (1, 2):
        sign_out(client)
        post_form(client, "/login", {"login": client.user.login, "password": client.password})
        response = post_form(client, "/login/code", {"code": code.upper().replace("-", " ")})
        assert response.status_code == (302 if attempt == 1 else 401)
    assert not is_signed_in(client)
    assert "auth.recovery_code.use" in actions()
    used = db.session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
    assert len(used) == 1


def test_password_change_needs_the_current_password_and_ends_other_sessions(signed_in, app, login_as, clock):
    client = signed_in("staff")
    other = login_as(app.test_client(), client.user, client.password)
    bad = post_form(client, "/account/password", {"current_password": "not-my-password-at-all",
                                                  "new_password": "Amber-quarry-velvet-29-ox",
                                                  "confirm": "Amber-quarry-velvet-29-ox"})
    assert bad.status_code == 400 and is_signed_in(other)
    ok = post_form(client, "/account/password", {"current_password": client.password,
                                                 "new_password": "Amber-quarry-velvet-29-ox",
                                                 "confirm": "Amber-quarry-velvet-29-ox"})
    assert ok.status_code == 302
    assert is_signed_in(client) and not is_signed_in(other)
    sign_out(client)
    refused = post_form(client, "/login", {"login": client.user.login, "password": client.password})
    assert refused.status_code == 401
    accepted = post_form(client, "/login", {"login": client.user.login, "password": "Amber-quarry-velvet-29-ox"})
    assert accepted.status_code == 302


def test_new_authenticator_needs_password_and_code_then_enrols_again(signed_in, app, login_as, clock):
    client = signed_in("staff")
    other = login_as(app.test_client(), client.user, client.password)
    old_secret = fresh_user(client.user).totp_secret
    page = client.get("/login/enrol")
    assert page.status_code == 200 and "Move to a new authenticator" in page.get_data(as_text=True)
    clock.advance(seconds=60)
    bad = post_form(client, "/login/enrol", {"password": client.password, "code": "123456"
                                             if current_code(client.user) != "123456" else "654321"})
    assert bad.status_code == 400 and fresh_user(client.user).totp_secret == old_secret
    response = post_form(client, "/login/enrol", {"password": client.password, "code": current_code(client.user)})
    assert response.headers["Location"] == "/login/enrol"
    assert not is_signed_in(other) and not is_signed_in(client), "until the new app is confirmed"
    assert db.session.scalar(select(RecoveryCode.id)) is None
    client.get("/login/enrol")
    new_secret = fresh_user(client.user).totp_secret
    assert new_secret != old_secret
    clock.advance(seconds=60)
    token = csrf_token(client, "/login/enrol")
    done = client.post("/login/enrol", data={"code": pyotp.TOTP(new_secret).at(clock.now), "csrf_token": token})
    assert done.status_code == 200 and is_signed_in(client)


def test_new_recovery_codes_need_the_password(signed_in):
    client = signed_in("staff")
    bad = post_form(client, "/account/recovery-codes", {"password": "wrong-password-here"})
    assert bad.status_code == 400 and "<code>" not in bad.get_data(as_text=True)
    good = post_form(client, "/account/recovery-codes", {"password": client.password})
    fresh = re.findall(r"<code>([a-z0-9-]{19})</code>", good.get_data(as_text=True))
    assert len(fresh) == 10 and not set(fresh) & set(client.recovery_codes)


def test_steps_without_a_pending_sign_in_go_back_to_the_start(client):
    for path in ("/login/code", "/login/enrol", "/login/new-password"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_each_step_gets_a_new_token_and_only_its_digest_is_stored(client, make_user, app, clock):
    user, one_time = make_user("kestrel")
    post_form(client, "/login", {"login": "kestrel", "password": one_time})
    first = session_cookie(client, app)["sid"]
    post_form(client, "/login/new-password", {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    second = session_cookie(client, app)["sid"]
    client.get("/login/enrol")
    token = csrf_token(client, "/login/enrol")
    client.post("/login/enrol", data={"code": current_code(user), "csrf_token": token})
    final = session_cookie(client, app)["sid"]
    assert len({first, second, final}) == 3
    rows = db.session.scalars(select(UserSession)).all()
    assert len(rows) == 1 and rows[0].stage == "full"
    assert all(t not in (rows[0].token_hash, str(rows[0].id)) for t in (first, second, final))


def test_cookie_flags_and_no_remember_me(signed_in, client, make_user, app):
    user, one_time = make_user("plover")
    response = post_form(client, "/login", {"login": "plover", "password": one_time})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get_cookie("session", domain=cookie_domain(app)) is not None
    assert client.get_cookie("remember_token", domain=cookie_domain(app)) is None
    from config import ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_NAME.startswith("__Host-") and ProductionConfig.SESSION_COOKIE_SECURE
