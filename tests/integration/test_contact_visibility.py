"""``Contact.only_restricted_paths`` always says what the contact's PathChoice rows say.

The permission filter trusts the flag (a coordinator without clearance never sees a
contact whose every path is restricted), so every way a path choice is written must
keep it right in the same transaction: one-by-one and bulk (COPY) creation, a path
added by a stage move, by capture-attach or by triage, and ``refresh_visibility``
for code that changes path rows by other means. The oracle below derives the
expected value from the path rows in Python, independently of the service code.
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
    """{contact id: expected flag}, from the path rows alone."""
    paths = {cid: set() for cid in db.session.scalars(select(Contact.id))}
    for contact_id, path in db.session.execute(select(PathChoice.contact_id, PathChoice.path)):
        paths[contact_id].add(path)
    return {cid: bool(chosen) and chosen <= RESTRICTED_PATHS for cid, chosen in paths.items()}


def stored_flags():
    return dict(db.session.execute(select(Contact.id, Contact.only_restricted_paths)).all())


def assert_flags_right():
    db.session.expire_all()
    expected, stored = derived_from_paths(), stored_flags()
    assert stored == expected
    return stored


def test_the_rule_in_words():
    assert contact_service.only_restricted([]) is False
    assert contact_service.only_restricted(["volunteering"]) is False
    assert contact_service.only_restricted(["combat_service"]) is True
    assert contact_service.only_restricted(["combat_service", "reserve_training"]) is True
    assert contact_service.only_restricted(["combat_service", "joint_projects"]) is False


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
    move_stage(hidden.id, "combat_service", "screening")
    move_stage(hidden.id, "combat_service", "declined")
    db.session.commit()
    assert assert_flags_right()[hidden.id] is True


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
    assert loaded_c.only_restricted_paths is True  # an object already loaded sees the new value
    db.session.commit()
    flags = assert_flags_right()
    assert (flags[a.id], flags[b.id], flags[c.id], flags[d.id]) == (False, False, True, True)


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
    db.session.execute(update(Contact).values(only_restricted_paths=False))
    contact_service.refresh_visibility([p.id for p in people])
    db.session.commit()
    assert set(assert_flags_right().values()) == {True}


def test_the_migration_backfill_derives_the_same_flags():
    migration = _load_migration()
    create_contacts_bulk([ContactData(full_name=f"Old {n}", paths=paths) for n, paths in enumerate(ALL_PATH_SETS)])
    db.session.execute(update(Contact).values(only_restricted_paths=False))
    db.session.execute(text(migration.BACKFILL))
    db.session.commit()
    assert sum(assert_flags_right().values()) == 3
    # The migration freezes the list: it must still be the one the application uses.
    assert set(migration.RESTRICTED.strip("()").replace("'", "").split(", ")) == RESTRICTED_PATHS


def _load_migration():
    path = ROOT / "migrations" / "versions" / "0005_contact_visibility.py"
    spec = importlib.util.spec_from_file_location("migration_0005_contact_visibility", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
