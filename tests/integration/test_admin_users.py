"""Admin pages for staff accounts: create (one-time password once), access, lock-outs, sessions."""
import re
from datetime import timedelta

from sqlalchemy import select

from crm.extensions import db
from crm.models import AuditEvent, User
from crm.services import sessions
from tests.auth_helpers import csrf_token, fresh_user, login_as, post_form


def events(action, target_id=None):
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == action)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == str(target_id))
    return db.session.scalars(query.order_by(AuditEvent.id)).all()


def detail_path(user):
    return f"/admin/users/{user.id}"


# Buttons that act only with the box beside them ticked, and the form prefix of that box.
TICK_FIRST = {"disable": "disable", "reset-totp": "totp", "end-sessions": "sessions"}


def act(admin, user, action, data=None, tick=True):
    """Press one of the buttons on the user's admin page (with its CSRF token, box ticked)."""
    token = csrf_token(admin, detail_path(user))
    data = {**(data or {}), "csrf_token": token}
    if tick and action in TICK_FIRST:
        data[f"{TICK_FIRST[action]}-confirmed"] = "y"
    return admin.post(f"{detail_path(user)}/{action}", data=data)


def test_admin_creates_an_account_and_sees_its_one_time_password_once(app, signed_in):
    admin = signed_in("admin")
    response = post_form(admin, "/admin/users/new", {"login": "Falcon-7", "role": "coordinator", "clearance": "y"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    password = re.search(r'id="one-time-password">([^<]+)<', page).group(1)
    user = db.session.scalar(select(User).where(User.login == "Falcon-7"))
    assert (user.role, user.restricted_clearance, user.must_change_password) == ("coordinator", True, True)
    assert password not in admin.get(detail_path(user)).get_data(as_text=True)
    assert password not in admin.get("/admin/users").get_data(as_text=True)
    [created] = events("user.create", user.id)
    assert created.actor_id == admin.user.id and password not in str(created.details)
    # The password really opens the account (and must be replaced at once).
    newcomer = login_as(app.test_client(), user, password)
    assert newcomer.get("/home").status_code == 200


def test_bad_or_taken_login_names_come_back_as_form_errors(signed_in, make_user):
    admin = signed_in("admin")
    make_user("taken")
    for login in ("taken", "", "has space", "x" * 65, "<script>"):
        response = post_form(admin, "/admin/users/new", {"login": login, "role": "staff"})
        assert response.status_code == 400, login
        assert 'class="field-error"' in response.get_data(as_text=True)
    response = post_form(admin, "/admin/users/new", {"login": "valid", "role": "superuser"})
    assert response.status_code == 400
    assert db.session.scalar(select(User).where(User.login == "valid")) is None


def test_role_and_clearance_changes_apply_at_once_and_are_audited(signed_in):
    admin = signed_in("admin")
    staff = signed_in("staff")
    assert staff.get("/admin/users").status_code == 403
    response = act(admin, staff.user, "access", {"role": "admin", "clearance": "y"})
    assert response.status_code == 302
    assert staff.get("/admin/users").status_code == 200  # no new sign-in needed
    user = fresh_user(staff.user)
    assert (user.role, user.restricted_clearance) == ("admin", True)
    [role_event] = events("user.role", user.id)
    assert role_event.details == {"from_role": "staff", "to_role": "admin"}
    assert role_event.actor_id == admin.user.id
    [clearance_event] = events("user.clearance", user.id)
    assert clearance_event.details == {"granted": True}
    act(admin, user, "access", {"role": "admin"})  # unticked box: clearance taken away
    assert fresh_user(user).restricted_clearance is False
    assert [e.details for e in events("user.clearance", user.id)][-1] == {"granted": False}


def test_the_last_admin_cannot_be_demoted(signed_in):
    admin = signed_in("admin")
    response = act(admin, admin.user, "access", {"role": "staff"})
    assert response.status_code == 302
    assert fresh_user(admin.user).role == "admin"
    assert "last active admin" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert events("user.role") == []


def test_disabling_ends_the_users_sessions_at_once(signed_in):
    admin = signed_in("admin")
    staff = signed_in("staff")
    assert staff.get("/home").status_code == 200
    assert act(admin, staff.user, "disable").status_code == 302
    response = staff.get("/home")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert fresh_user(staff.user).active is False
    assert events("auth.user.disable", staff.user.id)[0].actor_id == admin.user.id
    assert act(admin, staff.user, "enable").status_code == 302
    assert fresh_user(staff.user).active is True


def test_an_admin_cannot_disable_themselves(signed_in):
    admin = signed_in("admin")
    act(admin, admin.user, "disable")
    assert fresh_user(admin.user).active is True
    assert admin.get("/home").status_code == 200


def test_unlock_lifts_a_lockout(signed_in, make_user):
    admin = signed_in("admin")
    user, _ = make_user("locked-out")
    user.locked_until = sessions.now() + timedelta(minutes=15)
    db.session.commit()
    assert "locked" in admin.get("/admin/users").get_data(as_text=True)
    act(admin, user, "unlock")
    assert fresh_user(user).locked_until is None
    assert events("auth.user.unlock", user.id)[0].actor_id == admin.user.id


def test_reset_totp_forgets_the_authenticator_and_signs_the_user_out(signed_in):
    admin = signed_in("admin")
    staff = signed_in("staff")
    assert fresh_user(staff.user).totp_enabled
    act(admin, staff.user, "reset-totp")
    assert not fresh_user(staff.user).totp_enabled
    assert staff.get("/home").status_code == 302
    assert events("auth.totp.reset", staff.user.id)[0].details["by"] == "admin"


def test_end_sessions_signs_the_user_out_everywhere(app, signed_in, login_as):
    admin = signed_in("admin")
    staff = signed_in("staff")
    laptop = login_as(app.test_client(), fresh_user(staff.user), staff.password)
    act(admin, staff.user, "end-sessions")
    for browser in (staff, laptop):
        assert browser.get("/home").status_code == 302
    [ended] = [e for e in events("auth.session.end", staff.user.id) if e.details.get("reason") == "revoked"]
    assert ended.details["count"] == 2 and ended.details["by"] == str(admin.user.id)
    assert admin.get("/home").status_code == 200


def test_destructive_buttons_do_nothing_until_their_box_is_ticked(signed_in):
    admin = signed_in("admin")
    staff = signed_in("staff")
    page = admin.get(detail_path(staff.user)).get_data(as_text=True)
    for prefix in TICK_FIRST.values():
        # A real checkbox the browser itself insists on (no JavaScript), with its own id.
        assert re.search(rf'<input[^>]*id="{prefix}-confirmed"[^>]*required', page), prefix
        assert page.count(f'id="{prefix}-confirmed"') == 1
    for action in TICK_FIRST:
        response = act(admin, staff.user, action, tick=False)
        assert response.status_code == 302, action
        assert "tick the box" in admin.get(response.headers["Location"]).get_data(as_text=True)
    user = fresh_user(staff.user)
    assert user.active and user.totp_enabled
    assert staff.get("/home").status_code == 200
    assert events("auth.user.disable") == [] and events("auth.totp.reset") == []
    # Ticking the box of another action does not count.
    response = act(admin, staff.user, "disable", {"sessions-confirmed": "y"}, tick=False)
    assert fresh_user(staff.user).active


def test_account_buttons_refuse_a_missing_csrf_token(signed_in):
    admin = signed_in("admin")
    staff = signed_in("staff")
    for action in ("disable", "end-sessions", "reset-totp", "access"):
        response = admin.post(f"{detail_path(staff.user)}/{action}", data={"role": "admin"})
        assert response.status_code == 400, action
    user = fresh_user(staff.user)
    assert user.active and user.role == "staff" and user.totp_enabled
    assert staff.get("/home").status_code == 200


def test_unknown_user_ids_answer_404(signed_in):
    admin = signed_in("admin")
    assert admin.get("/admin/users/00000000-0000-4000-8000-000000000000").status_code == 404
    assert admin.get("/admin/users/not-a-uuid").status_code == 404
