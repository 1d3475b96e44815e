"""``flask crm users``: list, disable, enable, unlock, reset-totp, end-sessions."""
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, UserSession
from tests.auth_helpers import csrf_token, fresh_user, is_signed_in, post_form


def run(runner, *args):
    result = runner.invoke(args=["crm", "users", *args])
    db.session.expire_all()
    return result


def test_list_shows_state_without_secrets(runner, signed_in, make_user):
    client = signed_in("coordinator", clearance=True)
    make_user("newcomer")
    result = run(runner, "list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert lines[client.user.login][:6] == [client.user.login, "coordinator", "yes", "active", "yes", "1"]
    assert lines["newcomer"][:6] == ["newcomer", "staff", "no", "active", "no", "0"]
    assert fresh_user(client.user).totp_secret not in result.output


def test_disable_ends_sessions_and_enable_restores(runner, signed_in, app):
    client = signed_in("staff")
    result = run(runner, "disable", "--login", client.user.login)
    assert result.exit_code == 0 and "ended" in result.output
    assert not is_signed_in(client)
    assert "disabled" in run(runner, "list").output
    assert run(runner, "enable", "--login", client.user.login).exit_code == 0
    assert fresh_user(client.user).active


def test_unlock(runner, make_user, app, client):
    user, one_time = make_user("wren")
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        post_form(client, "/login", {"login": "wren", "password": "not-the-password"})
    assert "locked" in run(runner, "list").output
    assert run(runner, "unlock", "--login", "wren").exit_code == 0
    assert post_form(client, "/login", {"login": "wren", "password": one_time}).status_code == 302


def test_reset_totp_and_end_sessions(runner, signed_in, app, login_as):
    client = signed_in("staff")
    second = login_as(app.test_client(), client.user, client.password)
    result = run(runner, "end-sessions", "--login", client.user.login)
    assert result.exit_code == 0 and "Ended 2 session(s)" in result.output
    assert not is_signed_in(client) and not is_signed_in(second)
    assert run(runner, "reset-totp", "--login", client.user.login).exit_code == 0
    assert not fresh_user(client.user).totp_enabled and fresh_user(client.user).totp_secret is None
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"auth.session.end", "auth.totp.reset"} <= actions


def test_unknown_login_is_one_clear_line(runner):
    result = run(runner, "disable", "--login", "ghost")
    assert result.exit_code == 1 and "no account with the login 'ghost'" in result.output
    assert "Traceback" not in result.output


def test_purge_sessions_keeps_live_ones(runner, signed_in, clock):
    old = signed_in("staff")
    old.post("/logout", data={"csrf_token": csrf_token(old, "/account")})
    clock.advance(days=31)
    live = signed_in("staff")
    result = run(runner, "purge-sessions", "--days", "30")
    assert result.exit_code == 0 and "Deleted 1 old session row(s)." in result.output
    assert is_signed_in(live)
    assert len(db.session.scalars(select(UserSession)).all()) == 1
