"""The permission module: roles, the restricted-path clearance, staff scope, hidden means 404.

One world of users, contacts, path choices and follow-ups; every user is checked
against every object, and the SQL helpers must agree with ``can`` row for row.
"""
import uuid

import pytest
from sqlalchemy import func, select

from crm.errors import NotFound
from crm.extensions import db
from crm.models import Contact, FollowUp, PathChoice, User
from crm.security import permissions
from crm.security.permissions import can, load_visible, visible_contacts, visible_followups, visible_path_choices


class Anonymous:
    is_anonymous = True
    is_authenticated = False


@pytest.fixture
def world(make_user, make_contact):
    users = {}
    for login, role, clearance in [
        ("admin", "admin", False), ("admin_c", "admin", True), ("coord", "coordinator", False),
        ("coord_c", "coordinator", True), ("staff_a", "staff", False), ("staff_b", "staff", False),
        ("staff_c", "staff", True),
    ]:
        users[login], _ = make_user(login, role, clearance)
    gone, _ = make_user("gone", "admin", True)
    gone.active = False
    users["gone"] = gone

    def contact(name, paths, assignee):
        c = make_contact(name, paths=tuple(paths))
        c.assignee_id = users[assignee].id if assignee else None
        return c

    contacts = {
        "plain_a": contact("Plain A", ["volunteering"], "staff_a"),
        "mixed_a": contact("Mixed A", ["volunteering", "combat_service"], "staff_a"),
        "restricted_a": contact("Restricted A", ["reserve_training"], "staff_a"),
        "nopath_b": contact("No Path B", [], "staff_b"),
        "restricted_c": contact("Restricted C", ["combat_service", "reserve_training"], "staff_c"),
        "unassigned": contact("Unassigned", ["joint_projects"], None),
    }
    followups = {}
    for key, c in contacts.items():
        for path in [p.path for p in c.paths] + [None]:
            f = FollowUp(contact_id=c.id, path=path, kind="call", status="open", assignee_id=c.assignee_id)
            db.session.add(f)
            followups[(key, path)] = f
    db.session.commit()
    return users, contacts, followups


def expected_contacts(login):
    everything = {"plain_a", "mixed_a", "restricted_a", "nopath_b", "restricted_c", "unassigned"}
    without_clearance = everything - {"restricted_a", "restricted_c"}
    return {
        "admin": without_clearance, "coord": without_clearance,
        "admin_c": everything, "coord_c": everything,
        "staff_a": {"plain_a", "mixed_a"}, "staff_b": {"nopath_b"}, "staff_c": {"restricted_c"},
        "gone": set(),
    }[login]


def _names(contacts, ids):
    return {key for key, c in contacts.items() if c.id in ids}


def test_each_user_sees_exactly_the_contacts_the_rules_allow(world):
    users, contacts, _ = world
    for login, user in users.items():
        ids = set(db.session.scalars(visible_contacts(select(Contact.id), user)))
        assert _names(contacts, ids) == expected_contacts(login), login
        count = db.session.scalar(visible_contacts(select(func.count(Contact.id)), user))
        assert count == len(expected_contacts(login)), login
        for key, c in contacts.items():
            assert can(user, "contacts.view", c) == (key in expected_contacts(login)), (login, key)


def test_restricted_path_choices_and_follow_ups_need_clearance(world):
    users, contacts, followups = world
    for login, user in users.items():
        seen_paths = {(pc.contact_id, pc.path) for pc in db.session.scalars(visible_path_choices(select(PathChoice), user))}
        seen_followups = set(db.session.scalars(visible_followups(select(FollowUp.id), user)))
        for key in expected_contacts(login):
            c = contacts[key]
            allowed = {p.path for p in permissions.visible_paths(user, c)}
            assert {p for cid, p in seen_paths if cid == c.id} == allowed, (login, key)
        for (key, path), f in followups.items():
            should = key in expected_contacts(login) and (
                path not in ("reserve_training", "combat_service") or user.restricted_clearance)
            assert (f.id in seen_followups) == should, (login, key, path)
            assert can(user, "followups.work", f) == should, (login, key, path)
        if not user.restricted_clearance:
            assert all(p not in ("reserve_training", "combat_service") for _, p in seen_paths)


def test_mixed_contact_shows_only_its_unrestricted_path_without_clearance(world):
    users, contacts, _ = world
    mixed = contacts["mixed_a"]
    assert [p.path for p in permissions.visible_paths(users["staff_a"], mixed)] == ["volunteering"]
    assert {p.path for p in permissions.visible_paths(users["coord_c"], mixed)} == {"volunteering", "combat_service"}


def test_hidden_missing_and_malformed_ids_all_raise_the_same_not_found(world):
    users, contacts, followups = world
    staff_b = users["staff_b"]
    for object_id in (contacts["plain_a"].id, uuid.uuid4(), "not-a-uuid", None, "../../etc"):
        with pytest.raises(NotFound) as raised:
            load_visible(db.session, Contact, object_id, staff_b)
        assert str(raised.value) == "not found"
    hidden_followup = followups[("mixed_a", "combat_service")]
    with pytest.raises(NotFound):
        load_visible(db.session, FollowUp, hidden_followup.id, users["staff_a"])
    assert load_visible(db.session, Contact, str(contacts["nopath_b"].id), staff_b).id == contacts["nopath_b"].id
    with pytest.raises(NotFound):
        load_visible(db.session, Contact, contacts["nopath_b"].id, staff_b, permission="contacts.export")


def test_roles_grant_what_the_design_says(world):
    users, _, _ = world
    staff, coord, admin = users["staff_a"], users["coord"], users["admin"]
    for permission in ("contacts.export", "contacts.assign", "triage.work", "meetings.manage"):
        assert not can(staff, permission) and can(coord, permission) and can(admin, permission)
    for permission in ("users.manage", "audit.view", "keys.manage"):
        assert not can(staff, permission) and not can(coord, permission) and can(admin, permission)
    assert can(staff, "followups.work") and can(staff, "contacts.view")
    assert not can(admin, "paths.restricted") and can(users["staff_c"], "paths.restricted")


def test_nobody_without_an_active_account_gets_anything(world):
    users, contacts, _ = world
    for nobody in (None, Anonymous(), users["gone"]):
        assert not any(can(nobody, p) for p in permissions.PERMISSIONS)
        assert db.session.scalars(visible_contacts(select(Contact.id), nobody)).all() == []
        assert not can(nobody, "contacts.view", contacts["unassigned"])


def test_users_see_themselves_and_only_admins_see_others(world):
    users, _, _ = world
    assert permissions.visible(users["staff_a"], users["staff_a"])
    assert not permissions.visible(users["staff_a"], users["staff_b"])
    assert permissions.visible(users["admin"], users["staff_b"])


def test_unknown_permissions_are_programming_errors(world):
    users, _, _ = world
    with pytest.raises(ValueError):
        can(users["admin"], "contacts.veiw")
    with pytest.raises(ValueError):
        permissions.require("everything")


def test_a_change_of_assignee_moves_the_contact_between_staff(world):
    users, contacts, _ = world
    contact = contacts["plain_a"]
    contact.assignee_id = users["staff_b"].id
    db.session.commit()
    assert not can(users["staff_a"], "contacts.view", contact)
    assert contact.id in set(db.session.scalars(visible_contacts(select(Contact.id), users["staff_b"])))


def test_adding_an_unrestricted_path_reveals_a_restricted_only_contact(world):
    users, contacts, _ = world
    from crm.services.contacts import move_stage

    restricted = contacts["restricted_a"]
    assert not can(users["coord"], "contacts.view", restricted)
    move_stage(restricted.id, "volunteering", "interested")
    db.session.commit()
    db.session.refresh(restricted)
    assert can(users["coord"], "contacts.view", restricted)
    assert [p.path for p in permissions.visible_paths(users["coord"], restricted)] == ["volunteering"]


def test_user_model_is_what_the_rules_read(world):
    users, _, _ = world
    fresh = db.session.get(User, users["staff_c"].id)
    assert permissions.has_clearance(fresh) and permissions.is_actor(fresh)


def test_start_page_counts_go_through_the_same_filters(signed_in, make_contact):
    import re

    def figure(client, label):
        page = client.get("/home").get_data(as_text=True)
        return int(re.search(r'<span class="number">(\d+)</span><span>' + re.escape(label), page).group(1))

    for paths in (("volunteering",), ("reserve_training",), ("combat_service", "joint_projects"), ()):
        make_contact(paths=paths)
    assert figure(signed_in("coordinator"), "Contacts you can see") == 3
    assert figure(signed_in("coordinator", clearance=True), "Contacts you can see") == 4
    assert figure(signed_in("staff", clearance=True), "Contacts you can see") == 0
