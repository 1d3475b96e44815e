"""The access watch: each detector fires at its threshold and not below, through real requests;
suspension ends sessions and refuses sign-in until an admin reinstates; the alert mail is neutral
and goes out once per burst; thresholds are validated and audited."""
from sqlalchemy import select

from crm.extensions import db
from crm.models import Attendance, AuditEvent, Meeting, Outbox, User, UserSession
from crm.models.base import utcnow
from tests.auth_helpers import csrf_token, fresh_user, post_form
from tests.integration.access_helpers import all_alerts, assign, watch  # noqa: F401 (fixture)


def _open(client, contact):
    response = client.get(f"/contacts/{contact.id}")
    assert response.status_code == 200
    return response


def _actions(action):
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_many_contacts_opened_fires_at_the_threshold_and_not_below(watch, signed_in, make_contact):
    watch(reads_alert=5)
    coordinator = signed_in("coordinator")
    people = [make_contact() for _ in range(5)]
    for contact in people[:4]:
        _open(coordinator, contact)
    _open(coordinator, people[0])  # the same contact again is not another one
    assert all_alerts() == []
    _open(coordinator, people[4])
    [alert] = all_alerts()
    assert (alert.kind, alert.user_id, alert.status, alert.suspended) == ("reads", coordinator.user.id, "open", False)
    assert alert.evidence["contacts"] == 5 and alert.evidence["window_minutes"] == 10
    _open(coordinator, make_contact())  # the same burst raises no second alert
    assert len(all_alerts()) == 1
    [event] = _actions("access.alert")
    assert event.details["kind"] == "reads" and event.target_id == str(coordinator.user.id)


def test_opens_outside_the_scope_fire_at_the_share_and_not_below(watch, signed_in, make_contact, make_user):
    watch(scope_min_opens=4, scope_alert_percent=50, reads_alert=1000)
    coordinator = signed_in("coordinator")
    other, _ = make_user("other-staff", "staff")
    mine = [make_contact() for _ in range(2)]
    theirs = [make_contact() for _ in range(3)]
    met = make_contact()
    assign(mine, coordinator.user)
    assign(theirs + [met], other)
    # Met at a meeting the coordinator hosts: in scope although assigned to someone else.
    meeting = Meeting(city="Gdansk", country="PL", starts_at=utcnow())
    meeting.hosts = [db.session.get(User, coordinator.user.id)]
    db.session.add(meeting)
    db.session.add(Attendance(meeting=meeting, contact_id=met.id))
    db.session.commit()
    for contact in (*mine, met, theirs[0]):
        _open(coordinator, contact)  # 4 opens, 1 outside: 25 %
    _open(coordinator, theirs[1])  # 5 opens, 2 outside: 40 %
    assert all_alerts() == []
    _open(coordinator, theirs[2])  # 6 opens, 3 outside: 50 %
    [alert] = all_alerts()
    assert alert.kind == "scope"
    assert {k: alert.evidence[k] for k in ("opened", "outside", "percent")} == {"opened": 6, "outside": 3,
                                                                                 "percent": 50}


def test_the_share_is_not_judged_before_the_minimum_number_of_opens(watch, signed_in, make_contact, make_user):
    watch(scope_min_opens=4, scope_alert_percent=50, reads_alert=1000)
    coordinator = signed_in("coordinator")
    other, _ = make_user("other-staff", "staff")
    theirs = [make_contact() for _ in range(3)]
    assign(theirs, other)
    for contact in theirs:
        _open(coordinator, contact)  # 100 % outside, but only 3 opens
    assert all_alerts() == []


def test_refused_requests_fire_at_the_threshold_and_not_below(watch, signed_in, make_contact, make_user):
    watch(denied_alert=3)
    staff = signed_in("staff")
    other, _ = make_user("other-staff", "staff")
    hidden = make_contact()
    assign([hidden], other)
    assert staff.get(f"/contacts/{hidden.id}").status_code == 404
    assert staff.get("/admin/users").status_code == 403
    assert staff.get("/no-such-page").status_code == 404  # no object named: not a probe
    assert all_alerts() == []
    assert staff.get(f"/contacts/{hidden.id}/edit").status_code == 404
    [alert] = all_alerts()
    assert (alert.kind, alert.evidence["refusals"]) == ("denied", 3)


def test_the_suspension_threshold_ends_sessions_and_refuses_sign_in_until_reinstated(
        watch, signed_in, make_contact, login_as, app):
    watch(reads_alert=3, reads_suspend=5)
    admin = signed_in("admin")
    staff = signed_in("staff")
    people = [make_contact() for _ in range(5)]
    assign(people, staff.user)
    for contact in people[:4]:
        _open(staff, contact)
    assert fresh_user(staff.user).suspended_at is None
    _open(staff, people[4])
    alerts = all_alerts()
    assert [(a.kind, a.suspended) for a in alerts] == [("reads", False), ("reads", True)]
    assert fresh_user(staff.user).suspended_at is not None
    assert db.session.scalar(select(db.func.count()).select_from(UserSession).where(
        UserSession.user_id == staff.user.id, UserSession.ended_at.is_(None))) == 0
    assert staff.get("/contacts/").status_code == 302  # signed out
    # Sign-in is refused with the same neutral answer as a wrong password.
    fresh = app.test_client()
    response = post_form(fresh, "/login", {"login": staff.user.login, "password": staff.password})
    assert response.status_code == 401
    assert "Sign-in failed" in response.get_data(as_text=True)
    assert "suspend" not in response.get_data(as_text=True).lower()
    assert _actions("access.suspend") and _actions("access.suspend")[0].details["sessions"] >= 1
    # An admin reinstates; the account signs in again and its old burst does not count again.
    response = admin.post(f"/admin/access/users/{staff.user.id}/reinstate",
                          data={"csrf_token": csrf_token(admin, f"/admin/users/{staff.user.id}")})
    assert response.status_code == 302
    assert fresh_user(staff.user).suspended_at is None
    login_as(fresh, fresh_user(staff.user), staff.password)
    _open(fresh, people[0])
    assert len(all_alerts()) == 2
    assert _actions("access.reinstate")


def test_the_last_admin_who_can_sign_in_is_never_suspended(watch, signed_in, make_contact):
    watch(reads_alert=2, reads_suspend=3)
    admin = signed_in("admin")
    for contact in [make_contact() for _ in range(3)]:
        _open(admin, contact)
    assert [a.suspended for a in all_alerts()] == [False, False]
    assert fresh_user(admin.user).suspended_at is None
    assert _actions("access.suspend_skipped")[0].details["reason"] == "last_admin"
    assert admin.get("/admin/access/alerts").status_code == 200


def test_an_admin_with_another_admin_beside_is_suspended(watch, signed_in, make_contact):
    watch(reads_alert=2, reads_suspend=3)
    signed_in("admin")
    admin = signed_in("admin")
    for contact in [make_contact() for _ in range(3)]:
        _open(admin, contact)
    assert fresh_user(admin.user).suspended_at is not None


def test_the_alert_mail_is_neutral_and_sent_once_per_burst(watch, signed_in, make_contact, make_user,
                                                          smtp_server, run_worker):
    watch(reads_alert=2)
    admin = signed_in("admin")
    db.session.get(User, admin.user.id).email = "watch-admin@staff.test"
    db.session.commit()
    first = signed_in("coordinator", login="Kastus-Kalinouski")
    second = signed_in("coordinator", login="Ciotka-Alaiza")
    names = ["Ales Bialacki", "Maryja Kalesnikava", "Ihar Losik", "Ryhor Kastusiou"]
    people = [make_contact(name, email=f"p{i}@example.org") for i, name in enumerate(names)]
    _open(first, people[0])
    _open(first, people[1])
    _open(second, people[2])
    _open(second, people[3])
    assert len(all_alerts()) == 2
    assert db.session.scalar(select(db.func.count()).select_from(Outbox)) == 1
    run_worker("mail")
    [message] = smtp_server.messages
    assert message["To"] == "watch-admin@staff.test"
    text = message.as_string()
    body = "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")
    assert "1 new access alert" in body and "/admin/access/alerts" in body
    for secret in names + ["Kastus", "Ciotka", "example.org", "coordinator"]:
        assert secret not in text and secret not in body, secret


def test_thresholds_are_validated_saved_and_audited(signed_in):
    admin = signed_in("admin")
    page = admin.get("/admin/access/settings")
    assert page.status_code == 200
    good = dict(reads_window_minutes=10, reads_alert=60, reads_suspend=150, scope_window_minutes=60,
                scope_min_opens=20, scope_alert_percent=60, scope_suspend_percent=0,
                denied_window_minutes=10, denied_alert=15, denied_suspend=40)
    bad = {**good, "reads_suspend": 60, "scope_alert_percent": 101, "denied_window_minutes": "ten"}
    response = post_form(admin, "/admin/access/settings", bad)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Must be higher than the alert threshold" in html
    assert "from 1 to 100" in html
    assert "Not a valid integer value" in html
    assert html.count('class="field-error"') == 3
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "access.settings")) == 0
    response = post_form(admin, "/admin/access/settings", {**good, "reads_alert": 40, "reads_suspend": 0})
    assert response.status_code == 302
    [event] = _actions("access.settings")
    assert event.details["changed"] == {"reads_alert": [60, 40], "reads_suspend": [150, 0]}
    from crm.services import access_alerts

    assert access_alerts.current().reads_alert == 40


def test_staff_and_coordinators_cannot_reach_the_alert_pages(signed_in):
    coordinator = signed_in("coordinator")
    for path in ("/admin/access/alerts", "/admin/access/settings", "/admin/access/lockdown"):
        assert coordinator.get(path).status_code == 403


def test_an_alert_is_reviewed_with_an_encrypted_note_never_by_its_subject(watch, signed_in, make_contact):
    watch(reads_alert=2, reads_suspend=3)
    first = signed_in("admin")
    second = signed_in("admin")
    for contact in [make_contact() for _ in range(3)]:
        _open(second, contact)
    alerts = all_alerts()
    suspended = next(a for a in alerts if a.suspended)
    page = first.get("/admin/access/alerts")
    assert page.status_code == 200 and second.user.login in page.get_data(as_text=True)
    token = csrf_token(first, "/admin/access/alerts")
    response = first.post(f"/admin/access/alerts/{suspended.id}/review",
                          data={"note": "Checked with her: a mass reassignment", "reinstate": "y",
                                "csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    reviewed = db.session.get(type(suspended), suspended.id)
    assert reviewed.status == "reviewed" and reviewed.review_note == "Checked with her: a mass reassignment"
    assert b"mass reassignment" not in (reviewed.review_note_ct or b"")
    assert fresh_user(second.user).suspended_at is None
    response = first.post(f"/admin/access/alerts/{suspended.id}/review",
                          data={"note": "again", "csrf_token": token})
    assert response.status_code == 302
    assert "already been reviewed" in first.get("/admin/access/alerts").get_data(as_text=True)


def test_the_operator_reinstates_from_the_command_line(watch, signed_in, make_contact, runner):
    watch(reads_alert=1, reads_suspend=2)
    signed_in("admin")
    staff = signed_in("staff")
    people = [make_contact() for _ in range(2)]
    assign(people, staff.user)
    for contact in people:
        _open(staff, contact)
    assert fresh_user(staff.user).suspended_at is not None
    result = runner.invoke(args=["crm", "users", "reinstate", "--login", staff.user.login])
    assert result.exit_code == 0, result.output
    assert fresh_user(staff.user).suspended_at is None
    result = runner.invoke(args=["crm", "users", "reinstate", "--login", staff.user.login])
    assert result.exit_code != 0 and "not suspended" in result.output


def test_redis_and_the_alert_hold_ids_and_counts_only(watch, signed_in, make_contact, app):
    from crm.models import AccessAlert
    from crm.redis_conn import get_redis

    watch(reads_alert=2, denied_alert=1)
    coordinator = signed_in("coordinator", login="Leak-Marker-Login")
    people = [make_contact(f"Zmitser Leakmarker{i}", email=f"leak{i}@marker.example", phone="+48 600 100 20" + str(i))
              for i in range(2)]
    for contact in people:
        _open(coordinator, contact)
    assert coordinator.get("/admin/users").status_code == 403
    assert {a.kind for a in all_alerts()} == {"reads", "denied"}
    redis = get_redis(app)
    dump = []
    for key in redis.scan_iter(match="muster:access:*"):
        dump.append(key)
        kind = redis.type(key)
        dump.extend(redis.zrange(key, 0, -1) if kind == b"zset" else [redis.get(key) or b""])
    assert dump, "the watch kept its counters in Redis"
    blob = b"\n".join(dump).decode()
    for marker in ("Leakmarker", "marker.example", "600100", "Leak-Marker-Login"):
        assert marker not in blob
    for alert in db.session.scalars(select(AccessAlert)):
        assert "Leakmarker" not in str(alert.evidence) and "marker.example" not in str(alert.evidence)
        assert set(alert.evidence) <= {"contacts", "refusals", "opened", "outside", "percent", "window_minutes",
                                       "alert_at", "suspend_at"}
