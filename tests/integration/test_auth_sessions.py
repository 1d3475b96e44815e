"""Server-side sessions: timeouts, sign-out, revocation, disabled accounts."""
from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, UserSession
from crm.services import auth as auth_service
from tests.auth_helpers import cookie_domain, csrf_token, is_signed_in, post_form, sign_out


def ended(reason):
    return db.session.scalars(select(UserSession).where(UserSession.end_reason == reason)).all()


def test_idle_timeout_ends_the_session(signed_in, app, clock):
    client = signed_in("staff")
    idle = app.config["SESSION_IDLE_MINUTES"]
    for _ in range(3):  # activity keeps it alive well past one idle period
        clock.advance(minutes=idle - 1)
        assert is_signed_in(client)
    clock.advance(minutes=idle, seconds=1)
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert len(ended("idle")) == 1
    assert "Your session has ended" in client.get("/login").get_data(as_text=True)
    clock.advance(minutes=-idle)  # the row stays ended even if the clock went back
    assert not is_signed_in(client)


def test_absolute_timeout_ends_even_a_busy_session(signed_in, app, clock):
    client = signed_in("staff")
    hours = app.config["SESSION_ABSOLUTE_HOURS"]
    for _ in range(hours * 3 - 1):
        clock.advance(minutes=20)
        assert is_signed_in(client)
    clock.advance(minutes=20)
    assert not is_signed_in(client)
    assert len(ended("absolute")) == 1


def test_timeouts_are_configurable(signed_in, app, clock, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 5)
    client = signed_in("staff")
    clock.advance(minutes=6)
    assert not is_signed_in(client)


def test_sign_out_ends_the_session_on_the_server(signed_in, app):
    client = signed_in("staff")
    stolen = client.get_cookie("session", domain=cookie_domain(app)).value
    sign_out(client)
    assert not is_signed_in(client)
    thief = app.test_client()
    thief.set_cookie("session", stolen, domain=cookie_domain(app))
    assert not is_signed_in(thief), "a copied cookie dies with the sign-out"
    assert len(ended("logout")) == 1


def test_sign_out_everywhere(signed_in, app, login_as):
    laptop = signed_in("coordinator")
    phone = login_as(app.test_client(), laptop.user, laptop.password)
    assert is_signed_in(phone)
    response = laptop.post("/account/logout-everywhere", data={"csrf_token": csrf_token(laptop, "/account")})
    assert response.status_code == 302
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert len(ended("logout_everywhere")) == 2


def test_an_admin_ends_another_users_sessions(signed_in):
    admin = signed_in("admin")
    staff = signed_in("staff")
    count = auth_service.end_sessions(staff.user.id, actor_id=admin.user.id)
    db.session.commit()
    assert count == 1
    assert not is_signed_in(staff) and is_signed_in(admin)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.session.end")
                               .order_by(AuditEvent.id)).all()[-1]
    assert event.target_id == str(staff.user.id) and event.details["by"] == str(admin.user.id)


def test_disabling_a_user_ends_their_sessions_at_once(signed_in, app):
    staff = signed_in("staff")
    auth_service.disable_user(staff.user.id)
    db.session.commit()
    assert not is_signed_in(staff)
    again = post_form(app.test_client(), "/login", {"login": staff.user.login, "password": staff.password})
    assert again.status_code == 401
    auth_service.enable_user(staff.user.id)
    db.session.commit()
    assert post_form(app.test_client(), "/login", {"login": staff.user.login,
                                                   "password": staff.password}).status_code == 302


def test_a_session_disabled_behind_its_back_is_refused(signed_in):
    staff = signed_in("staff")
    staff.user.active = False  # not through the service: the loader still checks
    db.session.commit()
    assert not is_signed_in(staff)


def test_admin_reset_totp_forces_a_new_enrolment(signed_in, app):
    staff = signed_in("staff")
    auth_service.reset_totp(staff.user.id)
    db.session.commit()
    assert not is_signed_in(staff)
    response = post_form(app.test_client(), "/login", {"login": staff.user.login, "password": staff.password})
    assert response.headers["Location"] == "/login/enrol"


def test_current_user_is_the_signed_in_user(signed_in, app):
    alice = signed_in("staff", clearance=True)
    bob = signed_in("coordinator")
    assert alice.user.login in alice.get("/account").get_data(as_text=True)
    assert bob.user.login in bob.get("/account").get_data(as_text=True)
    assert alice.user.login not in bob.get("/account").get_data(as_text=True)
