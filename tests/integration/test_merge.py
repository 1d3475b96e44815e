"""Merging duplicates: everything moves to the survivor, old links redirect, undo puts it all back."""
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from crm.errors import NotFound, ServiceError
from crm.extensions import db
from crm.models import Attendance, AuditEvent, Contact, ContactNote, FollowUp
from crm.models.base import utcnow
from crm.models.merge import ContactMerge
from crm.services import merge as merge_service
from crm.services.contact_notes import add_note
from crm.services.contacts import move_stage
from crm.services.meetings import MeetingData, create_meeting
from tests.auth_helpers import csrf_token


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", "coordinator", clearance=True)[0]


@pytest.fixture
def meeting(app):
    def make(city):
        created = create_meeting(MeetingData(city=city, country="PL", starts_at=datetime(2026, 10, 1, 18)))
        db.session.commit()
        return created
    return make


def attend(contact, meeting):
    db.session.add(Attendance(meeting_id=meeting.id, contact_id=contact.id))
    db.session.commit()


@pytest.fixture
def pair(make_contact, meeting, coordinator):
    """Two records of one person, each with meetings, paths, notes and a follow-up."""
    warsaw, vilnius = meeting("Warszawa"), meeting("Vilnius")
    kept = make_contact("Anna Kowalska", email="anna@example.org", phone="+48 600 100 200",
                        paths=("volunteering",))
    other = make_contact("Анна Кавальская", email="ANNA.K@example.org", phone="+370 612 34567",
                         city="Vilnius", paths=("volunteering", "joint_projects"))
    move_stage(other.id, "volunteering", "contacted", actor_id=coordinator.id)
    move_stage(other.id, "volunteering", "screening", actor_id=coordinator.id)
    attend(kept, warsaw)
    attend(other, warsaw)
    attend(other, vilnius)
    add_note(kept, "kept's note", coordinator)
    add_note(other, "met again in Vilnius", coordinator)
    db.session.add(FollowUp(contact_id=other.id, kind="call", path="volunteering", due_at=utcnow()))
    db.session.commit()
    return kept, other, warsaw, vilnius


def do_merge(kept, other, user, take=()):
    request = merge_service.MergeRequest(kept.id, other.id, kept.version_id, other.version_id, frozenset(take))
    record = merge_service.merge(request, user)
    db.session.commit()
    db.session.expire_all()
    return record


def meetings_of(contact_id):
    return set(db.session.scalars(select(Attendance.meeting_id).where(Attendance.contact_id == contact_id)))


def test_merge_moves_everything_to_the_survivor(pair, coordinator):
    kept, other, warsaw, vilnius = pair
    other_id = other.id
    record = do_merge(kept, other, coordinator, take={"phone"})

    assert db.session.get(Contact, other_id) is None
    kept = db.session.get(Contact, kept.id)
    assert kept.phone == "+370 612 34567"          # chosen from the other record
    assert kept.email == "anna@example.org"        # kept's own
    assert kept.city is None                       # not chosen: the service takes only what was chosen
    assert meetings_of(kept.id) == {warsaw.id, vilnius.id}
    assert db.session.query(Attendance).filter_by(contact_id=kept.id).count() == 2
    paths = {p.path: p for p in kept.paths}
    assert set(paths) == {"volunteering", "joint_projects"}
    assert paths["volunteering"].stage == "screening"  # the most advanced stage wins
    history = [(c.from_stage, c.to_stage) for c in paths["volunteering"].history]
    assert (None, "interested") in history and ("contacted", "screening") in history  # both histories kept
    assert ("interested", "screening") in history  # the merge's own move
    assert {n.body for n in db.session.scalars(select(ContactNote).where(ContactNote.contact_id == kept.id))} == \
        {"kept's note", "met again in Vilnius"}
    assert db.session.query(FollowUp).filter_by(contact_id=kept.id).count() == 1
    assert record.merged_id == other_id and record.survivor_id == kept.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "contact.merge"))
    assert event.target_id == str(kept.id) and event.details["merged"] == str(other_id)
    assert event.details["fields_from_merged"] == ["phone"]
    assert "Vilnius" not in str(event.details) and "370" not in str(event.details)
    assert b"Vilnius" not in record.snapshot_ct  # sealed


def test_default_choices_fill_blanks_only(pair):
    kept, other, *_ = pair
    assert merge_service.default_choices(kept, other) == frozenset({"city"})


def test_undo_restores_both_contacts(pair, coordinator):
    kept, other, warsaw, vilnius = pair
    kept_id, other_id = kept.id, other.id
    other_history = {c.id for p in other.paths for c in p.history}
    record = do_merge(kept, other, coordinator, take={"phone", "city"})

    result = merge_service.undo(record.id, coordinator)
    db.session.commit()
    db.session.expire_all()
    kept, other = db.session.get(Contact, kept_id), db.session.get(Contact, other_id)
    assert other is not None and result.kept == []
    assert (other.full_name, other.email, other.phone, other.city) == \
        ("Анна Кавальская", "ANNA.K@example.org", "+370 612 34567", "Vilnius")
    assert (kept.phone, kept.city) == ("+48 600 100 200", None)
    assert meetings_of(kept_id) == {warsaw.id} and meetings_of(other_id) == {warsaw.id, vilnius.id}
    assert {p.path: p.stage for p in kept.paths} == {"volunteering": "interested"}
    assert {p.path: p.stage for p in other.paths} == {"volunteering": "screening", "joint_projects": "interested"}
    assert {c.id for p in other.paths for c in p.history} == other_history
    assert [(c.from_stage, c.to_stage) for c in kept.path("volunteering").history] == [(None, "interested")]
    assert [n.body for n in db.session.scalars(select(ContactNote).where(ContactNote.contact_id == other_id))] == \
        ["met again in Vilnius"]
    assert db.session.query(FollowUp).filter_by(contact_id=other_id).count() == 1
    # The restored contact is found through its blind indexes again.
    from crm.services.lookup import find_by_email
    assert [c.id for c in find_by_email("anna.k@example.org")] == [other_id]
    record = db.session.get(ContactMerge, record.id)
    assert record.undone_at is not None and record.snapshot_ct is None
    assert db.session.query(AuditEvent).filter_by(action="contact.merge_undo").count() == 1
    with pytest.raises(ServiceError, match="already undone"):
        merge_service.undo(record.id, coordinator)


def test_undo_keeps_fields_edited_since_the_merge(pair, coordinator):
    kept, other, *_ = pair
    record = do_merge(kept, other, coordinator, take={"phone"})
    kept = db.session.get(Contact, kept.id)
    kept.phone = "+48 600 999 888"
    db.session.commit()
    result = merge_service.undo(record.id, coordinator)
    db.session.commit()
    assert result.kept == ["phone"]
    assert db.session.get(Contact, kept.id).phone == "+48 600 999 888"


def test_undo_window_closes_and_the_snapshot_is_erased(pair, coordinator):
    kept, other, *_ = pair
    record = do_merge(kept, other, coordinator)
    later = utcnow() + timedelta(days=31)
    with pytest.raises(ServiceError, match="over"):
        merge_service.undo(record.id, coordinator, now=later)
    assert merge_service.forget_snapshots(now=later) == 1
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ContactMerge, record.id).snapshot_ct is None


def test_a_concurrent_edit_stops_the_merge(pair, coordinator):
    kept, other, *_ = pair
    stale = merge_service.MergeRequest(kept.id, other.id, kept.version_id, other.version_id - 1, frozenset())
    with pytest.raises(merge_service.MergeConflict):
        merge_service.merge(stale, coordinator)
    db.session.rollback()
    assert db.session.get(Contact, other.id) is not None


def test_merge_needs_both_contacts_visible(make_contact, make_user, coordinator):
    plain = make_user("plain", "coordinator")[0]
    kept = make_contact("Ola Nowak", paths=("volunteering",))
    hidden = make_contact("Ola Nowak", paths=("combat_service",))
    request = merge_service.MergeRequest(kept.id, hidden.id, kept.version_id, hidden.version_id, frozenset())
    with pytest.raises(NotFound):
        merge_service.merge(request, plain)
    staff = make_user("staffer", "staff")[0]
    with pytest.raises(NotFound):
        merge_service.merge(request, staff)


def test_merging_keeps_the_visibility_flag_right(make_contact, make_user, coordinator):
    plain = make_user("plain", "coordinator")[0]
    kept = make_contact("Ola Nowak", paths=("combat_service",))
    other = make_contact("Ola Nowak", paths=("volunteering",))
    from crm.security import permissions
    assert not permissions.visible(plain, kept)
    do_merge(kept, other, coordinator)
    visible_ids = set(db.session.scalars(permissions.visible_contacts(select(Contact.id), plain)))
    assert kept.id in visible_ids  # it now has an unrestricted path too


# --- over HTTP ---------------------------------------------------------------------------

VERSION = re.compile(r'name="(survivor_version|merged_version)" type="hidden" value="(\d+)"')


def merge_form(client, kept, other):
    page = client.get(f"/duplicates/merge/{kept.id}/{other.id}").get_data(as_text=True)
    values = dict(VERSION.findall(page))
    values["csrf_token"] = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return values


def test_merge_screen_merges_redirects_and_undoes(signed_in, pair):
    kept, other, *_ = pair
    other_id = other.id
    client = signed_in("coordinator", clearance=True)
    page = client.get(f"/duplicates/merge/{kept.id}/{other.id}")
    assert page.status_code == 200 and "Анна Кавальская" in page.get_data(as_text=True)
    form = merge_form(client, kept, other)
    response = client.post(f"/duplicates/merge/{kept.id}/{other.id}", data={**form, "phone": "merged"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/contacts/{kept.id}")
    # The merged-away id leads to the survivor.
    old = client.get(f"/contacts/{other_id}")
    assert old.status_code == 302 and old.headers["Location"].endswith(f"/contacts/{kept.id}")
    # ... but not for someone who may not see the survivor.
    staff = signed_in("staff")
    assert staff.get(f"/contacts/{other_id}").status_code == 404

    merges = client.get("/duplicates/merges").get_data(as_text=True)
    undo_url = re.search(r'action="(/duplicates/merges/[^"]+/undo)"', merges).group(1)
    token = csrf_token(client, "/duplicates/merges")
    response = client.post(undo_url, data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/contacts/{other_id}")
    assert client.get(f"/contacts/{other_id}").status_code == 200


def test_merge_screen_reports_a_concurrent_edit(signed_in, pair):
    kept, other, *_ = pair
    client = signed_in("coordinator", clearance=True)
    form = merge_form(client, kept, other)
    move_stage(other.id, "joint_projects", "contacted")  # someone else, meanwhile
    db.session.commit()
    response = client.post(f"/duplicates/merge/{kept.id}/{other.id}", data=form)
    assert response.status_code == 409
    assert "changed by someone else" in response.get_data(as_text=True)
    assert db.session.get(Contact, other.id) is not None
    # The page carries the new versions: merging again is a deliberate second step.
    response = client.post(f"/duplicates/merge/{kept.id}/{other.id}", data=merge_form(client, kept, other))
    assert response.status_code == 302


def test_bad_merge_input_is_refused_cleanly(signed_in, pair):
    kept, other, *_ = pair
    client = signed_in("coordinator", clearance=True)
    form = merge_form(client, kept, other)
    assert client.post(f"/duplicates/merge/{kept.id}/{other.id}", data={**form, "email": "nonsense"}).status_code == 400
    assert client.post(f"/duplicates/merge/{kept.id}/{kept.id}", data=form).status_code == 404
    assert client.get("/duplicates/merge/not-a-uuid/also-not").status_code == 404
    assert client.post("/duplicates/merges/00000000-0000-0000-0000-000000000000/undo",
                       data={"csrf_token": form["csrf_token"]}).status_code == 404
    assert db.session.get(Contact, other.id) is not None


def test_staff_may_not_review_duplicates(signed_in, pair):
    kept, other, *_ = pair
    client = signed_in("staff")
    assert client.get("/duplicates/").status_code == 403
    assert client.get(f"/duplicates/merge/{kept.id}/{other.id}").status_code == 403


def test_an_edit_in_the_same_instant_fails_the_merge_at_flush(pair, coordinator, monkeypatch):
    """Versions match when checked, then another transaction commits an edit: nothing is merged."""
    from sqlalchemy import update
    from sqlalchemy.orm.exc import StaleDataError

    kept, other, *_ = pair
    request = merge_service.MergeRequest(kept.id, other.id, kept.version_id, other.version_id, frozenset())
    original = merge_service.load_pair

    def load_then_race(*args):
        loaded = original(*args)
        with db.engine.begin() as conn:  # someone else's save, committed in between
            conn.execute(update(Contact.__table__).where(Contact.__table__.c.id == other.id)
                         .values(version_id=Contact.__table__.c.version_id + 1))
        return loaded

    monkeypatch.setattr(merge_service, "load_pair", load_then_race)
    with pytest.raises(StaleDataError):
        merge_service.merge(request, coordinator)
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Contact, other.id) is not None
    assert db.session.query(ContactMerge).count() == 0


def test_erasing_the_survivor_erases_the_merge_snapshot(pair, coordinator):
    """The undo snapshot holds the merged-away record's values: erasure must not leave it behind."""
    from crm.services import erasure

    kept, other, *_ = pair
    record = do_merge(kept, other, coordinator)
    assert db.session.get(ContactMerge, record.id).snapshot_ct is not None
    erasure.erase(kept.id, via="cli")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ContactMerge, record.id) is None
    assert db.session.scalar(select(ContactMerge.id).where(
        (ContactMerge.survivor_id == kept.id) | (ContactMerge.merged_id == other.id))) is None
