"""``Contact.clearance_only`` always says what the contact's rows say.

The permission filter trusts the flag (a user without clearance never sees a contact
whose every path is restricted, who has a restricted path at stage active, or whose
relatives are at risk at home), so every way a path choice, a stage or the safety flag
is written must keep it right in the same transaction: one-by-one and bulk (COPY)
creation, a path added by a stage move, by capture-attach or by triage, an approved
move to active, the safety form, and ``refresh_visibility`` for code that changes rows
by other means. The oracle below derives the expected value from the rows in Python,
independently of the service code.
"""
import importlib.util
import itertools
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, text, update

from crm.extensions import db
from crm.models import Contact, Meeting, PathChoice
from crm.models.base import utcnow
from crm.models.enums import PATHS, RESTRICTED_PATHS
from crm.security.permissions import visible_contacts
from crm.services import capture, contacts as contact_service, triage
from crm.services.contacts import ContactData, create_contact, create_contacts_bulk, move_stage

ROOT = Path(__file__).resolve().parents[2]
ALL_PATH_SETS = [combo for size in range(len(PATHS) + 1) for combo in itertools.combinations(PATHS, size)]


def derived_from_paths():
    """{contact id: expected flag}, from the path rows and the relatives-at-risk flag alone."""
    relatives = dict(db.session.execute(select(Contact.id, Contact.relatives_at_risk)).all())
    paths = {cid: set() for cid in relatives}
    active = set()
    for contact_id, path, stage in db.session.execute(select(PathChoice.contact_id, PathChoice.path,
                                                             PathChoice.stage)):
        paths[contact_id].add(path)
        if path in RESTRICTED_PATHS and stage == "active":
            active.add(contact_id)
    return {cid: bool(relatives[cid]) or cid in active or (bool(chosen) and chosen <= RESTRICTED_PATHS)
            for cid, chosen in paths.items()}


def stored_flags():
    return dict(db.session.execute(select(Contact.id, Contact.clearance_only)).all())


def assert_flags_right():
    db.session.expire_all()
    expected, stored = derived_from_paths(), stored_flags()
    assert stored == expected
    return stored


def test_the_rule_in_words():
    rule = contact_service.clearance_only
    assert rule([]) is False
    assert rule([("volunteering", "active")]) is False
    assert rule([("combat_service", "interested")]) is True
    assert rule([("combat_service", "interested"), ("reserve_training", "declined")]) is True
    assert rule([("combat_service", "screening"), ("joint_projects", "interested")]) is False
    assert rule([("combat_service", "active"), ("joint_projects", "interested")]) is True
    assert rule([("reserve_training", "active"), ("volunteering", "active")]) is True
    assert rule([], relatives_at_risk=True) is True
    assert rule([("volunteering", "interested")], relatives_at_risk=True) is True


def test_create_contact_sets_the_flag_for_every_set_of_paths():
    for number, paths in enumerate(ALL_PATH_SETS):
        create_contact(ContactData(full_name=f"Person {number}", paths=paths), check_duplicates=False)
    db.session.commit()
    flags = assert_flags_right()
    assert sum(flags.values()) == 3  # {reserve}, {combat}, {reserve, combat}


def test_bulk_create_sets_the_flag_for_every_set_of_paths():
    ids = create_contacts_bulk([ContactData(full_name=f"Bulk {n}", paths=paths)
                                for n, paths in enumerate(ALL_PATH_SETS)])
    db.session.commit()
    flags = assert_flags_right()
    assert [flags[i] for i in ids] == [bool(p) and set(p) <= RESTRICTED_PATHS for p in ALL_PATH_SETS]


@pytest.mark.parametrize("added", PATHS)
def test_adding_any_path_to_any_set_keeps_the_flag_right(added):
    # Every starting set of paths, each followed by a move that adds (or re-stages) ``added``.
    ids = create_contacts_bulk([ContactData(full_name=f"Start {n}", paths=paths)
                                for n, paths in enumerate(ALL_PATH_SETS)])
    db.session.commit()
    for contact_id in ids:
        move_stage(contact_id, added, "contacted")
    db.session.commit()
    flags = assert_flags_right()
    for contact_id, start in zip(ids, ALL_PATH_SETS):
        assert flags[contact_id] == (set(start) | {added} <= RESTRICTED_PATHS)


def test_a_stage_move_on_an_existing_path_leaves_the_flag(make_contact):
    hidden = make_contact(paths=("combat_service",))
    move_stage(hidden.id, "combat_service", "contacted")
    move_stage(hidden.id, "combat_service", "declined")
    db.session.commit()
    assert assert_flags_right()[hidden.id] is True


def _approved_move(contact, path, stage, requester, approver):
    from crm.services import approvals, vetting

    item = vetting.request_stage(contact, requester, path, stage, "screened well")
    approvals.approve(item.id, approver, "agreed")
    db.session.commit()


def test_an_active_restricted_path_makes_a_mixed_contact_clearance_only(make_contact, make_user):
    ann = make_user("ann", "coordinator", clearance=True)[0]
    bob = make_user("bob", "coordinator", clearance=True)[0]
    plain = make_user("plain", "coordinator")[0]
    mixed = make_contact(paths=("combat_service", "volunteering"))
    assert _contact_ids_seen_by(plain) == {mixed.id}
    _approved_move(mixed, "combat_service", "screening", ann, bob)
    assert assert_flags_right()[mixed.id] is False
    _approved_move(db.session.get(Contact, mixed.id), "combat_service", "active", bob, ann)
    assert assert_flags_right()[mixed.id] is True
    assert _contact_ids_seen_by(plain) == set()
    move_stage(mixed.id, "combat_service", "withdrawn")
    db.session.commit()
    assert assert_flags_right()[mixed.id] is False
    assert _contact_ids_seen_by(plain) == {mixed.id}


def test_the_safety_flag_sets_and_clears_the_flag(make_contact, make_user):
    from crm.services import trust

    editor = make_user("editor", "coordinator", clearance=True)[0]
    person = make_contact(paths=("volunteering",))
    trust.update_safety(person, trust.SafetyData(relatives_at_risk=True), editor)
    db.session.commit()
    assert assert_flags_right()[person.id] is True
    trust.update_safety(db.session.get(Contact, person.id), trust.SafetyData(relatives_at_risk=False), editor)
    db.session.commit()
    assert assert_flags_right()[person.id] is False


def _contact_ids_seen_by(user):
    return set(db.session.scalars(visible_contacts(select(Contact.id), user)))


def test_triage_stage_for_a_new_path_shows_and_hides_the_contact(make_user, make_contact):
    cleared, _ = make_user("cleared", "coordinator", clearance=True)
    plain, _ = make_user("plain", "coordinator")
    nopath = make_contact("No Path Yet")
    restricted = make_contact("Reserve Only", paths=("reserve_training",))
    assert _contact_ids_seen_by(plain) == {nopath.id}

    triage.set_stage([nopath.id], "combat_service", "interested", cleared)
    triage.set_stage([restricted.id], "volunteering", "interested", cleared)
    db.session.commit()

    assert_flags_right()
    assert _contact_ids_seen_by(plain) == {restricted.id}
    assert _contact_ids_seen_by(cleared) == {nopath.id, restricted.id}


def test_capture_attach_adding_an_open_path_makes_the_contact_visible(make_user, make_contact):
    cleared, _ = make_user("cleared", "coordinator", clearance=True)
    plain, _ = make_user("plain", "coordinator")
    meeting = Meeting(city="Wrocław", country="PL", starts_at=utcnow() - timedelta(hours=2))
    db.session.add(meeting)
    existing = make_contact("Ales Latushka", paths=("combat_service",))
    db.session.commit()
    assert existing.id not in _contact_ids_seen_by(plain)

    capture.capture(meeting, capture.CaptureData(full_name="Ales Latushka", email="ales@example.org",
                                                 paths=("joint_projects",), consent=True),
                    cleared, "2026-01", attach_to=existing.id)
    db.session.commit()

    assert_flags_right()
    assert existing.id in _contact_ids_seen_by(plain)


def test_refresh_visibility_repairs_changes_made_in_raw_sql(make_contact):
    # What a merge, an import or an erasure might do without the services.
    a = make_contact("A", paths=("volunteering",))
    b = make_contact("B", paths=("combat_service",))
    c = make_contact("C", paths=("reserve_training", "joint_projects"))
    d = make_contact("D")
    db.session.execute(delete(PathChoice).where(PathChoice.contact_id == c.id, PathChoice.path == "joint_projects"))
    db.session.execute(insert(PathChoice), [{"id": uuid.uuid4(), "contact_id": d.id, "path": "combat_service",
                                             "stage": "interested"}])
    # "Merge" a into b: b's restricted path joins a, b is left with none.
    db.session.execute(update(PathChoice).where(PathChoice.contact_id == b.id).values(contact_id=a.id))
    db.session.flush()
    with pytest.raises(AssertionError):
        assert_flags_right()

    loaded_c = db.session.get(Contact, c.id)
    contact_service.refresh_visibility([a.id, b.id, c.id, d.id, c.id])
    assert loaded_c.clearance_only is True  # an object already loaded sees the new value
    db.session.commit()
    flags = assert_flags_right()
    assert (flags[a.id], flags[b.id], flags[c.id], flags[d.id]) == (False, False, True, True)


def test_refresh_visibility_repairs_stages_and_the_safety_flag_set_in_sql(make_contact):
    mixed = make_contact("M", paths=("reserve_training", "joint_projects"))
    open_one = make_contact("O", paths=("volunteering",))
    db.session.execute(update(PathChoice).where(PathChoice.contact_id == mixed.id,
                                                PathChoice.path == "reserve_training").values(stage="active"))
    db.session.execute(update(Contact).where(Contact.id == open_one.id).values(relatives_at_risk=True))
    contact_service.refresh_visibility([mixed.id, open_one.id])
    db.session.commit()
    flags = assert_flags_right()
    assert (flags[mixed.id], flags[open_one.id]) == (True, True)


def test_refresh_visibility_counts_pending_orm_changes(make_contact):
    person = make_contact("Pending", paths=("volunteering",))
    db.session.delete(person.path("volunteering"))
    person.paths.append(PathChoice(id=uuid.uuid4(), path="reserve_training", stage="interested"))
    contact_service.refresh_visibility([person.id])
    db.session.commit()
    assert assert_flags_right()[person.id] is True


def test_refresh_visibility_in_chunks(make_contact, monkeypatch):
    monkeypatch.setattr(contact_service, "REFRESH_CHUNK", 2)
    people = [make_contact(f"P{n}", paths=("combat_service",)) for n in range(5)]
    db.session.execute(update(Contact).values(clearance_only=False))
    contact_service.refresh_visibility([p.id for p in people])
    db.session.commit()
    assert set(assert_flags_right().values()) == {True}


def test_the_migration_backfill_derives_the_same_flags():
    migration = _load_migration()
    ids = create_contacts_bulk([ContactData(full_name=f"Old {n}", paths=paths)
                                for n, paths in enumerate(ALL_PATH_SETS)])
    # Some of them active on every path, one with relatives at risk.
    db.session.execute(update(PathChoice).where(PathChoice.contact_id.in_(ids[::3])).values(stage="active"))
    db.session.execute(update(Contact).where(Contact.id == ids[1]).values(relatives_at_risk=True))
    db.session.execute(update(Contact).values(clearance_only=False))
    db.session.execute(text(migration.BACKFILL))
    db.session.commit()
    flags = assert_flags_right()
    assert sum(flags.values()) > 3 and flags[ids[1]] is True
    # The migration freezes the list: it must still be the one the application uses.
    assert set(migration.RESTRICTED.strip("()").replace("'", "").split(", ")) == RESTRICTED_PATHS


def _load_migration():
    path = ROOT / "migrations" / "versions" / "0019_clearance_only.py"
    spec = importlib.util.spec_from_file_location("migration_0019_clearance_only", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
