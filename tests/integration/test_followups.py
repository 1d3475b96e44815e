"""Follow-up tasks, rules and their firing, through the services (the pages and jobs have their own files)."""
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.errors import NotFound, ServiceError
from crm.extensions import db
from crm.models import AuditEvent, Contact, FollowUp, FollowUpRule, FollowUpRuleVersion, StageChange
from crm.models.base import utcnow
from crm.services import contacts as contact_service
from crm.services import followup_firing, followup_queues, followup_rules, followups
from crm.services.contacts import ValidationError
from crm.services.followup_rules import RuleData


@pytest.fixture
def default_rules(app):
    followup_rules.seed_defaults()  # the migration's rows are gone after the first test
    db.session.commit()
    return {rule.path: rule for rule in db.session.scalars(select(FollowUpRule))}


@pytest.fixture
def people(make_user):
    """A staff member, another one, a cleared coordinator, an uncleared one, a cleared admin."""
    made = {}
    for login, role, clearance in (("ala", "staff", False), ("bo", "staff", False), ("cleo", "coordinator", True),
                                   ("dan", "coordinator", False), ("eve", "admin", True)):
        made[login] = make_user(login, role, clearance)[0]
    return made


def _assigned(make_contact, user, paths=("volunteering",), name=None):
    contact = make_contact(name, paths=paths)
    contact.assignee_id = user.id
    db.session.commit()
    return contact


def _stage_changes(contact):
    return list(db.session.scalars(select(StageChange.id).join(StageChange.path_choice)
                                   .where(StageChange.path_choice.has(contact_id=contact.id))))


def _fire(contact):
    result = followup_firing.apply_rules_batch(_stage_changes(contact))
    db.session.commit()
    return result


def _open_of(contact):
    return list(db.session.scalars(select(FollowUp).where(FollowUp.contact_id == contact.id)))


# --- rules fire once per stage entry ----------------------------------------------------

def test_a_rule_fires_once_per_stage_entry_even_when_run_twice(default_rules, people, make_contact):
    contact = _assigned(make_contact, people["ala"])
    first = _fire(contact)
    again = _fire(contact)
    assert first["created"] == 1 and again == {**again, "created": 0, "already": 1}
    [followup] = _open_of(contact)
    rule = default_rules["volunteering"]
    change_id = _stage_changes(contact)[0]
    assert followup.rule_key == f"{rule.id}:{change_id}"
    assert (followup.kind, followup.assignee_id, followup.rule_version) == ("call", people["ala"].id, 1)
    change = db.session.get(StageChange, change_id)
    assert abs(followup.due_at.replace(tzinfo=None) - (change.at.replace(tzinfo=None) + timedelta(days=7))) \
        < timedelta(seconds=1)


def test_rules_fire_for_the_stage_changes_of_contacts_named_by_id(default_rules, people, make_contact):
    """What an import batch asks for its new contacts: the same follow-ups as by stage change ids."""
    by_id = _assigned(make_contact, people["ala"], name="By Id")
    by_contact = _assigned(make_contact, people["ala"], name="By Contact", paths=("volunteering", "joint_projects"))
    changes = {change_id: db.session.get(StageChange, change_id).path_choice.path
               for change_id in _stage_changes(by_contact)}
    expected = {f"{default_rules[path].id}:{change_id}" for change_id, path in changes.items() if path in default_rules}
    first = followup_firing.apply_rules_batch(_stage_changes(by_id), contact_ids=[by_contact.id])
    db.session.commit()
    assert (first["stage_changes"], first["missing"], first["created"]) == (3, 0, 1 + len(expected))
    assert expected and {f.rule_key for f in _open_of(by_contact)} == expected
    assert len(_open_of(by_id)) == 1
    assert followup_firing.apply_rules_batch([], contact_ids=[by_contact.id])["created"] == 0  # once


def test_a_new_stage_entry_fires_again(default_rules, people, make_contact):
    contact = _assigned(make_contact, people["ala"])
    _fire(contact)
    contact_service.move_stage(contact.id, "volunteering", "contacted")
    contact_service.move_stage(contact.id, "volunteering", "interested")
    db.session.commit()
    _fire(contact)
    assert len(_open_of(contact)) == 2  # interested was entered twice


def test_a_deleted_contact_or_stage_change_is_a_clean_no_op(default_rules, people, make_contact):
    contact = _assigned(make_contact, people["ala"])
    ids = _stage_changes(contact)
    db.session.delete(db.session.get(Contact, contact.id))
    db.session.commit()
    assert followup_firing.apply_rules(ids[0]) == {
        "stage_changes": 1, "created": 0, "missing": 1, "no_rule": 0, "already": 0}
    assert followup_firing.apply_rules(10 ** 9)["missing"] == 1


def test_an_inactive_rule_does_not_fire(default_rules, people, make_contact):
    followup_rules.set_active(default_rules["volunteering"].id, False, people["eve"])
    db.session.commit()
    contact = _assigned(make_contact, people["ala"])
    assert _fire(contact)["created"] == 0


def test_combat_service_goes_to_the_least_loaded_cleared_coordinator(default_rules, people, make_contact):
    extra = []
    for n in range(3):
        contact = make_contact(paths=("combat_service",))
        _fire(contact)
        extra.append(_open_of(contact)[0])
    # cleo and eve are the cleared coordinators/admins; dan (uncleared) never gets one
    assignees = [f.assignee_id for f in extra]
    assert set(assignees) <= {people["cleo"].id, people["eve"].id}
    assert people["dan"].id not in assignees
    assert abs(assignees.count(people["cleo"].id) - assignees.count(people["eve"].id)) <= 1
    assert {f.kind for f in extra} == {"vetting"}


def test_a_restricted_follow_up_never_goes_to_an_uncleared_contact_assignee(default_rules, people, make_contact):
    contact = _assigned(make_contact, people["ala"], paths=("reserve_training",))
    _fire(contact)
    [followup] = _open_of(contact)
    assert followup.assignee_id in {people["cleo"].id, people["eve"].id}


def test_round_robin_takes_turns(default_rules, people, make_contact):
    rule = default_rules["combat_service"]
    followup_rules.update_rule(rule.id, RuleData("combat_service", "interested", "vetting", 3,
                                                 "cleared_coordinator", strategy="round_robin"), people["eve"])
    db.session.commit()
    got = []
    for _ in range(4):
        contact = make_contact(paths=("combat_service",))
        _fire(contact)
        got.append(_open_of(contact)[0].assignee_id)
    assert got[0] != got[1] and got[0] == got[2] and got[1] == got[3]


def test_the_batch_path_creates_many_at_once(default_rules, people, app):
    datas = [contact_service.ContactData(full_name=f"Batch {n}", paths=("volunteering", "joint_projects"))
             for n in range(60)]
    contact_service.create_contacts_bulk(datas)
    db.session.commit()
    ids = followup_firing.unfired_stage_changes(lookback_days=1)
    assert len(ids) == 120
    result = followup_firing.apply_rules_batch(ids)
    db.session.commit()
    assert result["created"] == 120
    assert followup_firing.unfired_stage_changes(lookback_days=1) == []
    assert followup_firing.apply_rules_batch(ids)["created"] == 0
    kinds = dict(db.session.execute(select(FollowUp.kind, func.count()).group_by(FollowUp.kind)).all())
    assert kinds == {"call": 60, "meeting": 60}


def test_stage_changes_queue_the_rule_job_after_commit(default_rules, people, make_contact, app):
    from crm import jobs

    contact = _assigned(make_contact, people["ala"])
    change_id = _stage_changes(contact)[0]
    queued = jobs.get_queue("default", app).get_job_ids()
    assert followup_firing.job_id(change_id) in queued


# --- rules: validation and versions -----------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"delay_days": -1}, "delay_days"),
    ({"delay_days": None}, "delay_days"),
    ({"delay_days": 400}, "delay_days"),
    ({"kind": "poem"}, "kind"),
    ({"path": "nowhere"}, "path"),
    ({"stage": "limbo"}, "stage"),
    ({"assign_to": "anyone"}, "assign_to"),
    ({"assign_to": "user", "assignee_id": None}, "assignee_id"),
])
def test_bad_rules_are_refused_with_a_field_error(people, change, field):
    data = RuleData(**{**dict(path="volunteering", stage="interested", kind="call", delay_days=2,
                              assign_to="contact_assignee"), **change})
    before = db.session.scalar(select(func.count()).select_from(FollowUpRule))  # the migration's, if first
    with pytest.raises(ValidationError) as refused:
        followup_rules.create_rule(data, people["eve"])
    assert field in refused.value.errors
    assert db.session.scalar(select(func.count()).select_from(FollowUpRule)) == before


def test_a_named_assignee_needs_clearance_for_a_restricted_path(people):
    data = RuleData("combat_service", "interested", "vetting", 3, "user", assignee_id=people["dan"].id)
    with pytest.raises(ValidationError) as refused:
        followup_rules.create_rule(data, people["eve"])
    assert "clearance" in refused.value.errors["assignee_id"]
    ok = followup_rules.create_rule(RuleData("combat_service", "interested", "vetting", 3, "user",
                                             assignee_id=people["cleo"].id), people["eve"])
    assert ok.assignee_id == people["cleo"].id


def test_restricted_rules_do_not_exist_for_an_uncleared_admin(default_rules, make_user):
    admin = make_user("uncleared-admin", "admin", False)[0]
    assert {r.path for r in followup_rules.visible_rules(admin)} == {"volunteering", "joint_projects"}
    with pytest.raises(NotFound):
        followup_rules.load_rule(default_rules["combat_service"].id, admin)
    with pytest.raises(ValidationError):
        followup_rules.create_rule(RuleData("combat_service", "active", "call", 1, "contact_assignee"), admin)


def test_only_admins_manage_rules(default_rules, people):
    with pytest.raises(ServiceError):
        followup_rules.visible_rules(people["cleo"])


def test_an_edit_is_a_new_version_and_old_versions_stay(default_rules, people, make_contact):
    rule = default_rules["volunteering"]
    contact = _assigned(make_contact, people["ala"])
    _fire(contact)
    followup_rules.update_rule(rule.id, RuleData("volunteering", "interested", "message", 2, "contact_assignee"),
                               people["eve"])
    db.session.commit()
    versions = followup_rules.versions_of(rule)
    assert [(v.version, v.kind, v.delay_days) for v in versions] == [(2, "message", 2), (1, "call", 7)]
    assert _open_of(contact)[0].rule_version == 1  # made under version 1, and says so
    assert _fire(contact)["created"] == 0  # the same stage entry does not fire again after an edit
    later = _assigned(make_contact, people["ala"])
    _fire(later)
    assert (_open_of(later)[0].kind, _open_of(later)[0].rule_version) == ("message", 2)
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "rule.update" in actions


def test_saving_unchanged_settings_makes_no_version(default_rules, people):
    rule = default_rules["volunteering"]
    followup_rules.update_rule(rule.id, RuleData("volunteering", "interested", "call", 7, "contact_assignee"),
                               people["eve"])
    assert db.session.scalar(select(func.count()).select_from(FollowUpRuleVersion)
                             .where(FollowUpRuleVersion.rule_id == rule.id)) == 1


# --- tasks: who may do what -------------------------------------------------------------

def _task(contact, user, path="volunteering", days=1):
    followup = followups.create(contact.id, "call", (utcnow() + timedelta(days=days)).date(), user, path=path)
    db.session.commit()
    return followup


def test_complete_with_an_encrypted_outcome_and_an_audit_event_without_it(people, make_contact, app):
    contact = _assigned(make_contact, people["ala"])
    followup = _task(contact, people["ala"])
    followups.complete(followup.id, "Reached; wants to help with logistics", people["ala"])
    db.session.commit()
    raw = db.session.execute(select(FollowUp.outcome_ct).where(FollowUp.id == followup.id)).scalar()
    assert b"logistics" not in raw
    assert db.session.get(FollowUp, followup.id).outcome == "Reached; wants to help with logistics"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "followup.complete"))
    assert "logistics" not in str(event.details)
    with pytest.raises(ServiceError):
        followups.complete(followup.id, "again", people["ala"])


def test_an_empty_outcome_or_reason_is_refused(people, make_contact):
    contact = _assigned(make_contact, people["ala"])
    followup = _task(contact, people["ala"])
    with pytest.raises(ValidationError) as refused:
        followups.complete(followup.id, "  ", people["ala"])
    assert "outcome" in refused.value.errors
    with pytest.raises(ValidationError) as refused:
        followups.cancel(followup.id, "", people["ala"])
    assert "reason" in refused.value.errors


def test_staff_act_only_on_their_own(people, make_contact):
    mine = _task(_assigned(make_contact, people["ala"]), people["ala"])
    theirs = _task(_assigned(make_contact, people["bo"]), people["bo"])
    followups.reschedule(mine.id, (utcnow() + timedelta(days=3)).date(), people["ala"])
    with pytest.raises(NotFound):
        followups.complete(theirs.id, "done", people["ala"])
    with pytest.raises(ServiceError):
        followups.reassign(mine.id, people["bo"].id, people["ala"])  # coordinators reassign
    with pytest.raises(ValidationError):
        followups.create(mine.contact_id, "call", utcnow().date(), people["ala"], assignee_id=people["bo"].id)


def test_coordinators_reassign_within_the_rules(people, make_contact):
    contact = _assigned(make_contact, people["ala"], paths=("volunteering", "combat_service"))
    plain = _task(contact, people["cleo"])
    restricted = followups.create(contact.id, "vetting", utcnow().date(), people["cleo"], path="combat_service")
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        followups.reassign(restricted.id, people["dan"].id, people["cleo"])
    assert "clearance" in refused.value.errors["assignee"]
    with pytest.raises(ValidationError) as refused:
        followups.reassign(plain.id, people["bo"].id, people["cleo"])  # bo may not see ala's contact
    assert "may not see" in refused.value.errors["assignee"]
    followups.reassign(plain.id, people["ala"].id, people["cleo"])
    assert db.session.get(FollowUp, plain.id).assignee_id == people["ala"].id
    with pytest.raises(NotFound):
        followups.cancel(restricted.id, "no", people["dan"])  # uncleared: it does not exist


def test_cancel_keeps_an_encrypted_reason(people, make_contact):
    contact = _assigned(make_contact, people["ala"])
    followup = _task(contact, people["ala"])
    followups.cancel(followup.id, "Moved abroad", people["ala"])
    db.session.commit()
    row = db.session.get(FollowUp, followup.id)
    assert (row.status, row.cancel_reason) == ("cancelled", "Moved abroad")
    assert b"abroad" not in row.cancel_reason_ct


def test_a_day_too_far_away_is_refused(people, make_contact):
    contact = _assigned(make_contact, people["ala"])
    with pytest.raises(ValidationError) as refused:
        followups.create(contact.id, "call", (utcnow() + timedelta(days=900)).date(), people["ala"])
    assert "due" in refused.value.errors
    with pytest.raises(ValidationError):
        followups.create(contact.id, "poem", utcnow().date(), people["ala"])


# --- queues -----------------------------------------------------------------------------

def test_my_queue_has_only_my_follow_ups_in_buckets(people, make_contact):
    contact = _assigned(make_contact, people["ala"])
    today = utcnow().date()
    for days in (-3, 0, 2, 30):
        _task(contact, people["ala"], days=days)
    other = _assigned(make_contact, people["bo"])
    _task(other, people["bo"], days=-1)
    queue = followup_queues.my_queue(people["ala"], today=today)
    assert queue.counts == {"overdue": 1, "today": 1, "week": 1, "later": 1}
    assert {f.contact_id for bucket in queue.buckets.values() for f in bucket} == {contact.id}
    assert followup_queues.nav_counts(people["ala"], today=today) == {"overdue": 1, "today": 1}
    assert followup_queues.nav_counts(people["bo"], today=today) == {"overdue": 1, "today": 0}


def test_restricted_follow_ups_only_for_cleared_users(people, make_contact):
    contact = make_contact(paths=("combat_service", "volunteering"))
    restricted = followups.create(contact.id, "vetting", utcnow().date(), people["cleo"], path="combat_service")
    plain = followups.create(contact.id, "call", utcnow().date(), people["cleo"], path="volunteering")
    db.session.commit()
    seen_by_cleared = {f.id for f in followup_queues.team_queue(people["cleo"]).rows}
    seen_by_uncleared = {f.id for f in followup_queues.team_queue(people["dan"]).rows}
    assert seen_by_cleared == {restricted.id, plain.id}
    assert seen_by_uncleared == {plain.id}
    workload = followup_queues.team_queue(people["dan"]).workload
    assert sum(w.total for w in workload) == 1  # counts hide it too


def test_team_queue_puts_overdue_first_and_counts_per_person(people, make_contact):
    contact = _assigned(make_contact, people["ala"])
    later = _task(contact, people["ala"], days=5)
    overdue = _task(contact, people["ala"], days=-2)
    queue = followup_queues.team_queue(people["cleo"])
    assert [f.id for f in queue.rows] == [overdue.id, later.id]
    [ala] = [w for w in queue.workload if w.assignee_id == people["ala"].id]
    assert (ala.overdue, ala.week, ala.total) == (1, 1, 2)


def test_reassigning_a_contact_moves_its_open_follow_ups(people, make_contact):
    contact = _assigned(make_contact, people["ala"], paths=("volunteering", "combat_service"))
    plain = _task(contact, people["ala"])
    restricted = followups.create(contact.id, "vetting", utcnow().date(), people["cleo"], path="combat_service")
    db.session.commit()
    moved = followups.reassign_open_for_contact(contact.id, people["bo"].id, people["ala"].id)
    db.session.commit()
    assert moved == 1
    assert db.session.get(FollowUp, plain.id).assignee_id == people["bo"].id
    assert db.session.get(FollowUp, restricted.id).assignee_id == people["cleo"].id  # a cleared coordinator's


def test_assigning_a_contact_in_triage_hands_over_its_rule_follow_ups(default_rules, people, make_contact):
    from crm.services import triage

    contact = make_contact(paths=("volunteering", "combat_service"))
    _fire(contact)
    by_path = {f.path: f for f in _open_of(contact)}
    assert by_path["volunteering"].assignee_id is None  # nobody has the contact yet
    vetting_owner = by_path["combat_service"].assignee_id
    assert vetting_owner in {people["cleo"].id, people["eve"].id}
    triage.assign([contact.id], people["ala"].id, people["cleo"])
    db.session.commit()
    by_path = {f.path: f for f in _open_of(contact)}
    assert by_path["volunteering"].assignee_id == people["ala"].id
    assert by_path["combat_service"].assignee_id == vetting_owner
    queue = followup_queues.my_queue(people["ala"])
    assert [f.contact_id for shelf in queue.buckets.values() for f in shelf] == [contact.id]


def test_unknown_ids_are_not_found(people):
    with pytest.raises(NotFound):
        followups.complete(uuid.uuid4(), "x", people["cleo"])
    with pytest.raises(NotFound):
        followups.complete("not-a-uuid", "x", people["cleo"])


def test_a_rule_whose_named_person_left_can_still_be_deactivated(default_rules, people, make_user):
    leaver = make_user("leaver", "coordinator", True)[0]
    rule = followup_rules.create_rule(RuleData("volunteering", "contacted", "call", 1, "user",
                                               assignee_id=leaver.id), people["eve"])
    leaver.active = False
    db.session.commit()
    followup_rules.set_active(rule.id, False, people["eve"])
    assert (rule.active, rule.version) == (False, 2)
    with pytest.raises(ValidationError):
        followup_rules.set_active(rule.id, True, people["eve"])  # reactivating checks again


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crm.models.enums import FOLLOWUP_KINDS, PATHS  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.one_of(st.sampled_from(["volunteering", "combat_service"]), st.text(max_size=30)),
       kind=st.one_of(st.sampled_from(["call", "vetting"]), st.text(max_size=30)),
       delay=st.one_of(st.integers(min_value=-10**6, max_value=10**6), st.none(), st.text(max_size=5), st.booleans()),
       assign_to=st.one_of(st.sampled_from(["contact_assignee", "user", "cleared_coordinator"]), st.text(max_size=20)),
       assignee=st.one_of(st.none(), st.text(max_size=40), st.uuids()))
def test_rule_validation_never_crashes_and_refuses_what_is_out_of_range(people, path, kind, delay, assign_to,
                                                                         assignee):
    data = RuleData(path=path, stage="interested", kind=kind, delay_days=delay, assign_to=assign_to,
                    assignee_id=assignee)
    errors = followup_rules.validate(data, people["eve"])
    valid_delay = isinstance(delay, int) and not isinstance(delay, bool) and 0 <= delay <= 365
    assert ("delay_days" in errors) == (not valid_delay)
    assert ("kind" in errors) == (kind not in FOLLOWUP_KINDS)
    assert ("path" in errors) == (path not in PATHS)
    if assign_to == "user":
        assert "assignee_id" in errors  # random ids name nobody
