"""Follow-up pages over HTTP: my queue, the team queue, in-place actions with and without htmx, rules admin."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import FollowUp, FollowUpRule
from crm.models.base import utcnow
from crm.services import followup_rules, followups
HTMX = {"HX-Request": "true"}
META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client, path):
    """The page's CSRF token (the one htmx sends), after checking the page answers."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return META_TOKEN.search(response.get_data(as_text=True)).group(1)


def _contact_for(make_contact, user, name, paths=("volunteering",)):
    contact = make_contact(name, paths=paths)
    contact.assignee_id = user.id
    db.session.commit()
    return contact


def _task(contact, user, days=0, path="volunteering", kind="call"):
    followup = followups.create(contact.id, kind, (utcnow() + timedelta(days=days)).date(), user, path=path)
    db.session.commit()
    return followup


def test_my_queue_shows_only_my_follow_ups_and_the_menu_counts(signed_in, make_contact):
    ala, bo = signed_in("staff"), signed_in("staff")
    mine = _contact_for(make_contact, ala.user, "Mina Mine")
    theirs = _contact_for(make_contact, bo.user, "Tomas Theirs")
    _task(mine, ala.user, days=-2)
    _task(mine, ala.user, days=0)
    _task(theirs, bo.user, days=-1)
    body = ala.get("/followups/").get_data(as_text=True)
    assert "Mina Mine" in body and "Tomas Theirs" not in body
    assert "Overdue (1)" in body and "Today (1)" in body
    home = ala.get("/home").get_data(as_text=True)
    assert 'class="nav-count overdue"' in home and ">1</span>" in home


def _order(followup_ids):
    """The ids in queue order: by due date, then id."""
    rows = db.session.execute(select(FollowUp.id, FollowUp.due_at).where(FollowUp.id.in_(followup_ids)))
    return [fid for fid, _ in sorted(rows, key=lambda row: (row[1], row[0]))]


def _listed(body):
    return re.findall(r'id="fu-([0-9a-f-]{36})"', body)


def test_a_long_queue_is_paged_and_every_follow_up_is_reachable(signed_in, make_contact, monkeypatch):
    from crm.services import followup_queues

    monkeypatch.setattr(followup_queues, "SHOWN", 2)
    ala = signed_in("staff")
    contact = _contact_for(make_contact, ala.user, "Mina Mine")
    overdue = _order([_task(contact, ala.user, days=-days).id for days in range(1, 6)])
    _task(contact, ala.user, days=30)
    first = ala.get("/followups/").get_data(as_text=True)
    assert "Overdue (5)" in first and "Later (1)" in first
    assert "The first 2 are shown." in first and "/followups/?bucket=overdue&amp;page=2" in first
    seen = []
    for page in (1, 2, 3):
        body = ala.get(f"/followups/?bucket=overdue&page={page}").get_data(as_text=True)
        assert f"Page {page} of 3" in body
        seen += _listed(body)
    assert seen == [str(fid) for fid in overdue]  # each once, in order, and no other bucket
    assert "Page 3 of 3" in ala.get("/followups/?bucket=overdue&page=99").get_data(as_text=True)
    assert ala.get("/followups/?bucket=nonsense&page=x").status_code == 200  # the first page of each


def test_the_team_queue_is_paged_and_keeps_its_person(signed_in, make_contact, monkeypatch):
    from crm.services import followup_queues

    monkeypatch.setattr(followup_queues, "SHOWN", 2)
    lead, ala, bo = signed_in("coordinator"), signed_in("staff"), signed_in("staff")
    alas = _order([_task(_contact_for(make_contact, ala.user, f"Ala Person{n}"), ala.user, days=n).id for n in range(3)])
    _task(_contact_for(make_contact, bo.user, "Bo Person"), bo.user, days=-1)
    everyone = lead.get("/followups/team").get_data(as_text=True)
    assert "Page 1 of 2" in everyone and len(_listed(everyone)) == 2
    page_one = lead.get(f"/followups/team?assignee={ala.user.id}").get_data(as_text=True)
    assert f"/followups/team?page=2&amp;assignee={ala.user.id}" in page_one
    page_two = lead.get(f"/followups/team?assignee={ala.user.id}&page=2").get_data(as_text=True)
    assert _listed(page_one) + _listed(page_two) == [str(fid) for fid in alas]
    assert "Page 2 of 2" in page_two and "Bo Person" not in page_two


def test_staff_cannot_open_the_team_queue_or_act_on_others(signed_in, make_contact):
    ala, bo = signed_in("staff"), signed_in("staff")
    theirs = _task(_contact_for(make_contact, bo.user, "Tomas Theirs"), bo.user)
    assert ala.get("/followups/team").status_code == 403
    token = csrf_token(ala, "/followups/")
    response = ala.post(f"/followups/{theirs.id}/act", data={"csrf_token": token, "action": "complete",
                                                             "outcome": "x"})
    assert response.status_code == 404
    assert db.session.get(FollowUp, theirs.id).status == "open"


def test_complete_without_javascript_redirects_back_with_a_message(signed_in, make_contact):
    ala = signed_in("staff")
    followup = _task(_contact_for(make_contact, ala.user, "Mina Mine"), ala.user)
    token = csrf_token(ala, "/followups/")
    response = ala.post(f"/followups/{followup.id}/act",
                        data={"csrf_token": token, "action": "complete", "outcome": "Spoke, all fine", "back": "mine"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/followups/")
    db.session.expire_all()
    row = db.session.get(FollowUp, followup.id)
    assert (row.status, row.outcome) == ("done", "Spoke, all fine")
    assert "Marked done." in ala.get("/followups/").get_data(as_text=True)


def test_htmx_action_answers_with_the_row_and_a_refusal_keeps_it_open(signed_in, make_contact):
    ala = signed_in("staff")
    followup = _task(_contact_for(make_contact, ala.user, "Mina Mine"), ala.user)
    token = csrf_token(ala, "/followups/")
    refused = ala.post(f"/followups/{followup.id}/act", headers=HTMX,
                       data={"csrf_token": token, "action": "cancel", "reason": " "})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 200 and body.lstrip().startswith(f'<tr id="fu-{followup.id}"')
    assert 'class="failed"' in body and "Reason" in body
    assert db.session.get(FollowUp, followup.id).status == "open"
    day = (utcnow() + timedelta(days=4)).date()
    moved = ala.post(f"/followups/{followup.id}/act", headers=HTMX,
                     data={"csrf_token": token, "action": "reschedule", "due": day.isoformat()})
    assert day.isoformat() in moved.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(FollowUp, followup.id).due_at.date() == day


def test_a_malformed_day_is_a_message_not_a_crash(signed_in, make_contact):
    ala = signed_in("staff")
    followup = _task(_contact_for(make_contact, ala.user, "Mina Mine"), ala.user)
    token = csrf_token(ala, "/followups/")
    response = ala.post(f"/followups/{followup.id}/act", headers=HTMX,
                        data={"csrf_token": token, "action": "reschedule", "due": "31/31/2026"})
    assert response.status_code == 200 and "Choose a day" in response.get_data(as_text=True)


def test_coordinator_team_queue_and_reassign(signed_in, make_user, make_contact):
    coordinator = signed_in("coordinator", clearance=True)
    ala = make_user("ala", "staff")[0]
    contact = _contact_for(make_contact, ala, "Mina Mine", paths=("volunteering", "combat_service"))
    later = _task(contact, ala, days=5)
    overdue = _task(contact, ala, days=-3)
    restricted = _task(contact, coordinator.user, days=1, path="combat_service", kind="vetting")
    body = coordinator.get("/followups/team").get_data(as_text=True)
    assert body.index(f'id="fu-{overdue.id}"') < body.index(f'id="fu-{restricted.id}"') < body.index(f'id="fu-{later.id}"')
    token = csrf_token(coordinator, "/followups/team")
    response = coordinator.post(f"/followups/{restricted.id}/act", headers=HTMX, data={
        "csrf_token": token, "action": "reassign", "assignee": str(ala.id), "back": "team"})
    assert "clearance" in response.get_data(as_text=True)
    assert db.session.get(FollowUp, restricted.id).assignee_id == coordinator.user.id
    one = coordinator.get(f"/followups/team?assignee={ala.id}").get_data(as_text=True)
    assert f'id="fu-{later.id}"' in one and f'id="fu-{restricted.id}"' not in one
    assert coordinator.get("/followups/team?assignee=nonsense").status_code == 200


def test_uncleared_coordinator_never_sees_a_restricted_follow_up(signed_in, make_contact):
    cleared = signed_in("coordinator", clearance=True)
    uncleared = signed_in("coordinator")
    contact = make_contact("Rita Restricted", paths=("combat_service",))
    restricted = _task(contact, cleared.user, path="combat_service", kind="vetting")
    body = uncleared.get("/followups/team").get_data(as_text=True)
    assert "Rita Restricted" not in body and str(restricted.id) not in body
    token = csrf_token(uncleared, "/followups/team")
    assert uncleared.post(f"/followups/{restricted.id}/act", data={
        "csrf_token": token, "action": "cancel", "reason": "x"}).status_code == 404


def test_contact_page_lists_follow_ups_with_actions_and_adds_one(signed_in, make_contact):
    ala = signed_in("staff")
    contact = _contact_for(make_contact, ala.user, "Mina Mine")
    followup = _task(contact, ala.user)
    page = ala.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert f'id="fu-{followup.id}"' in page and f"/followups/{followup.id}/act" in page
    token = csrf_token(ala, f"/contacts/{contact.id}")
    day = (utcnow() + timedelta(days=2)).date().isoformat()
    response = ala.post(f"/followups/contact/{contact.id}/new",
                        data={"csrf_token": token, "kind": "message", "due": day, "path": "volunteering"})
    assert response.status_code == 302 and f"/contacts/{contact.id}" in response.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(FollowUp)
                             .where(FollowUp.contact_id == contact.id)) == 2
    bad = ala.post(f"/followups/contact/{contact.id}/new",
                   data={"csrf_token": token, "kind": "poem", "due": day})
    assert bad.status_code == 302
    assert "unknown kind" in ala.get(f"/contacts/{contact.id}").get_data(as_text=True)


# --- rules ------------------------------------------------------------------------------

@pytest.fixture
def rules(app):
    followup_rules.seed_defaults()
    db.session.commit()
    return {rule.path: rule for rule in db.session.scalars(select(FollowUpRule))}


def test_rules_page_for_admins_only_and_restricted_rules_need_clearance(signed_in, rules):
    assert signed_in("coordinator").get("/followups/rules").status_code == 403
    uncleared = signed_in("admin")
    body = uncleared.get("/followups/rules").get_data(as_text=True)
    assert "Volunteering" in body and "Combat service" not in body
    assert uncleared.get(f"/followups/rules/{rules['combat_service'].id}").status_code == 404
    cleared = signed_in("admin", clearance=True)
    assert "Combat service" in cleared.get("/followups/rules").get_data(as_text=True)


@pytest.mark.parametrize("change, message", [
    ({"delay_days": "-2"}, "cannot be negative"),
    ({"delay_days": "soon"}, "whole number"),
    ({"kind": "poem"}, "unknown kind"),
    ({"path": "combat_service", "assign_to": "user"}, "no clearance"),
])
def test_a_bad_rule_is_refused_next_to_its_field(signed_in, make_user, rules, change, message):
    admin = signed_in("admin", clearance=True)
    uncleared = make_user("dan", "coordinator")[0]
    token = csrf_token(admin, "/followups/rules/new")
    data = {"csrf_token": token, "path": "volunteering", "stage": "contacted", "kind": "call", "delay_days": "3",
            "assign_to": "contact_assignee", "assignee_id": str(uncleared.id), "strategy": "least_loaded",
            "active": "y", **change}
    response = admin.post("/followups/rules/new", data=data)
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and message in body and 'class="field-error"' in body
    assert db.session.scalar(select(func.count()).select_from(FollowUpRule)) == len(rules)


def test_editing_a_rule_makes_a_version_and_deactivating_works(signed_in, rules):
    admin = signed_in("admin")
    rule = rules["volunteering"]
    token = csrf_token(admin, f"/followups/rules/{rule.id}")
    response = admin.post(f"/followups/rules/{rule.id}", data={
        "csrf_token": token, "path": "volunteering", "stage": "interested", "kind": "message", "delay_days": "2",
        "assign_to": "contact_assignee", "strategy": "least_loaded", "active": "y"})
    assert response.status_code == 302
    page = admin.get(f"/followups/rules/{rule.id}").get_data(as_text=True)
    assert "version 2" in page
    admin.post(f"/followups/rules/{rule.id}/active", data={"csrf_token": token, "active": "0"})
    db.session.expire_all()
    saved = db.session.get(FollowUpRule, rule.id)
    assert (saved.kind, saved.delay_days, saved.active, saved.version) == ("message", 2, False, 3)


def test_each_user_sets_their_own_reminder_address(signed_in):
    ala = signed_in("staff")
    token = csrf_token(ala, "/followups/mail")
    bad = ala.post("/followups/mail", data={"csrf_token": token, "email": "not an address"})
    assert bad.status_code == 400 and "not a valid email address" in bad.get_data(as_text=True)
    ok = ala.post("/followups/mail", data={"csrf_token": token, "email": "ala.staff@example.org"})
    assert ok.status_code == 302, ok.get_data(as_text=True)[-3000:]
    db.session.expire_all()
    from crm.models import User

    user = db.session.get(User, ala.user.id)
    assert user.email == "ala.staff@example.org" and b"example.org" not in user.email_ct
    assert 'value="ala.staff@example.org"' in ala.get("/followups/mail").get_data(as_text=True)
