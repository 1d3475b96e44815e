"""Abuse limits and bad input at sign-in: lockout, per-IP limits, CSRF, junk fields."""
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm.extensions import db
from crm.redis_conn import get_redis
from crm.models import AuditEvent
from crm.services import auth as auth_service
from tests.auth_helpers import csrf_token, current_code, fresh_user, post_form

GENERIC = "Sign-in failed. Check the login name, the password and the code, and try again."


def error_text(response):
    match = re.search(r'class="flash flash-error" role="alert">([^<]+)<', response.get_data(as_text=True))
    return match.group(1) if match else None


def events(action):
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return db.session.scalars(query).all()


def test_unknown_login_and_wrong_password_read_the_same(client, make_user):
    make_user("osprey")
    unknown = post_form(client, "/login", {"login": "nobody-here", "password": "whatever-password"})
    wrong = post_form(client, "/login", {"login": "osprey", "password": "whatever-password"})
    assert unknown.status_code == wrong.status_code == 401
    assert error_text(unknown) == error_text(wrong) == GENERIC
    failed = events("auth.login.failed")
    assert sorted(e.details["reason"] for e in failed) == ["password", "unknown"]
    assert all("nobody-here" not in str(e.details) and "osprey" not in str(e.details) for e in failed)


def test_account_locks_after_repeated_failures_until_an_admin_unlocks(client, make_user, app, clock):
    user, one_time = make_user("swift")
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        post_form(client, "/login", {"login": "swift", "password": "wrong-password-x"})
    assert len(events("auth.login.locked")) == 1
    locked = post_form(client, "/login", {"login": "swift", "password": one_time})
    assert locked.status_code == 401 and error_text(locked) == GENERIC, "a lock reads like any failure"
    assert events("auth.login.failed")[-1].details == {"reason": "locked"}

    auth_service.unlock_user(user.id)
    db.session.commit()
    assert post_form(client, "/login", {"login": "swift", "password": one_time}).status_code == 302
    assert events("auth.user.unlock")


def test_a_lock_ends_by_itself_after_its_time(client, make_user, app, clock):
    user, one_time = make_user("tern")
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        post_form(client, "/login", {"login": "tern", "password": "wrong-password-x"})
    clock.advance(minutes=app.config["LOCKOUT_MINUTES"] - 1)
    assert post_form(client, "/login", {"login": "tern", "password": one_time}).status_code == 401
    clock.advance(minutes=2)
    assert post_form(client, "/login", {"login": "tern", "password": one_time}).status_code == 302


def test_wrong_codes_count_toward_the_lockout(signed_in, app, clock):
    client = signed_in("staff")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    post_form(client, "/login", {"login": client.user.login, "password": client.password})
    good = current_code(client.user)
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        post_form(client, "/login/code", {"code": "999999" if good != "999999" else "888888"})
    assert auth_service.is_locked(fresh_user(client.user))
    response = post_form(client, "/login", {"login": client.user.login, "password": client.password})
    assert response.status_code == 401


def test_sign_in_is_rate_limited_per_address(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN", "3 per minute")
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    statuses = [post_form(attacker, "/login", {"login": f"guess{i}", "password": "x" * 12}).status_code
                for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert attacker.get("/login").status_code == 200, "only POSTs count"
    keys = b" ".join(get_redis(app).scan_iter("LIMITS*"))
    assert b"auth.login" in keys and b"203.0.113.7" not in keys, "counted in Redis, without the address"
    neighbour = app.test_client()
    neighbour.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    assert post_form(neighbour, "/login", {"login": "guess", "password": "x" * 12}).status_code == 401


def test_codes_are_rate_limited_per_address(make_user, app, monkeypatch, login_as, clock):
    monkeypatch.setitem(app.config, "RATELIMIT_TOTP", "2 per minute")
    user, one_time = make_user("gannet")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.8"
    login_as(client, user, one_time)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    post_form(client, "/login", {"login": "gannet", "password": client.password})
    good = current_code(user)
    bad = "999999" if good != "999999" else "888888"
    statuses = [post_form(client, "/login/code", {"code": bad}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert post_form(client, "/login/code", {"code": good}).status_code == 429


def test_limits_live_in_redis(app):
    assert app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "redis+unix://"))


def test_missing_csrf_token_is_a_clear_400(client, make_user):
    user, one_time = make_user("auk")
    response = client.post("/login", data={"login": "auk", "password": one_time})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "security token" in body and "CSRF" in body
    assert client.post("/logout").status_code == 400


def test_overlong_and_binary_fields_are_refused_without_a_500(client, make_user):
    make_user("skua")
    cases = [
        {"login": "a" * 10_000, "password": "b" * 12},
        {"login": "skua", "password": "p" * 100_000},
        {"login": "sk\x00ua", "password": "\x00\xff\xfe" * 10},
        {"login": "", "password": ""},
        {"login": "skua'; DROP TABLE user;--", "password": "x" * 12},
    ]
    for data in cases:
        response = post_form(client, "/login", data)
        assert 400 <= response.status_code < 500, (data["login"][:20], response.status_code)
    raw = client.post("/login", data=b"login=\xff\xfe%00&password=\x00",
                      content_type="application/x-www-form-urlencoded")
    assert 400 <= raw.status_code < 500
    reasons = [e.details["reason"] for e in events("auth.login.failed")]
    assert "malformed" in reasons and "unknown" in reasons


def test_malformed_codes_are_refused_without_a_500(signed_in, clock):
    client = signed_in("staff")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    post_form(client, "/login", {"login": client.user.login, "password": client.password})
    for code in ("abc", "1" * 5000, "\x00" * 6, "１２３４５６", "12345", "1234567", "-" * 19, "ⅰⅱⅲⅳⅴⅵ", ""):
        response = post_form(client, "/login/code", {"code": code})
        assert 400 <= response.status_code < 500, (code[:10], response.status_code)
        if auth_service.is_locked(fresh_user(client.user)):
            auth_service.unlock_user(client.user.id)
            db.session.commit()
            post_form(client, "/login", {"login": client.user.login, "password": client.password})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(login=st.text(st.characters(exclude_categories=("Cs",)), max_size=200),
       password=st.text(st.characters(exclude_categories=("Cs",)), max_size=300))
def test_any_login_form_input_answers_4xx(client, login, password):
    response = post_form(client, "/login", {"login": login, "password": password})
    assert 400 <= response.status_code < 500


def test_unknown_logins_pay_for_a_password_check_too(client, make_user, monkeypatch):
    """Unknown, disabled and locked accounts still run an argon2 check (same cost, same answer)."""
    from crm.services import auth as module

    checked = []
    real = module.verify_password
    monkeypatch.setattr(module, "verify_password", lambda stored, pw: checked.append(stored) or real(stored, pw))
    post_form(client, "/login", {"login": "nobody-at-all", "password": "some-password-1"})
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")


def test_auth_audit_details_hold_no_secrets_or_names(signed_in, client, make_user, app, clock):
    user, one_time = make_user("petrel")
    post_form(client, "/login", {"login": "petrel", "password": "typo-password-1"})
    post_form(client, "/login", {"login": "petrel-typo", "password": one_time})
    staff = signed_in("staff")
    staff.post("/logout", data={"csrf_token": csrf_token(staff, "/account")})
    secret = fresh_user(staff.user).totp_secret
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("auth.%"))).all()
    assert {"auth.login.failed", "auth.login.ok", "auth.totp.enrol", "auth.password.change",
            "auth.session.end"} <= {r.action for r in rows}
    text = " ".join(str(r.details) for r in rows)
    for needle in ("petrel", staff.user.login, one_time, "typo-password-1", staff.password, secret,
                   *staff.recovery_codes):
        assert needle not in text
