"""Using the data-rights pages through the real forms, for the rights tests."""
import re
from urllib.parse import urlsplit

from crm.extensions import db
from crm.services import rights

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
LINK_RE = re.compile(r"https?://[^\s\"<>]+/my-data/link/[A-Za-z0-9_-]+")


def csrf(html):
    match = CSRF_RE.search(html)
    assert match, html[:500]
    return match.group(1)


def ask(client, email, path="/my-data", **environ):
    """GET the page, then POST ``email`` with its CSRF token."""
    page = client.get(path, environ_base=environ)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True)), "email": email},
                       environ_base=environ)


def link_path(message):
    """The path of the link in a mail's plain-text part."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = LINK_RE.search(text)
    assert match, text
    return urlsplit(match.group(0)).path


def new_link(contact):
    """A link for ``contact`` made by the service (as the lookup job does); returns its path."""
    link, token = rights.create_link(contact)
    db.session.commit()
    return f"/my-data/link/{token}"


def press(client, path, data=None):
    """GET ``path``, then POST its form (with ``data``) using the page's CSRF token."""
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True)), **(data or {})})


def open_session(client, contact):
    """Open a link session for ``contact`` in ``client``; returns the client."""
    response = press(client, new_link(contact))
    assert response.status_code == 302, response.status_code
    return client


def page_csrf(client, path="/my-data/me"):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return csrf(page.get_data(as_text=True))


def seed_two_people(make_contact, make_user):
    """Two people met at the same meeting, each with a note, a follow-up and a path.

    Every value carries a unique marker, so a test can say whose data appears where.
    Returns (alice, bob, staff user, meeting).
    """
    from datetime import UTC, datetime

    from crm.models import Attendance, FollowUp, Meeting
    from crm.services import contact_notes
    from crm.services.contacts import move_stage

    staff, _password = make_user("caller-sign-7", role="coordinator")
    alice = make_contact("Alisa Markerova", email="alisa.marker@example.org", phone="+48 600 700 801",
                         messenger="@alisa_mk", city="Gdańsk", country="Poland", languages="Polish",
                         skills="Driving AlisaSkill", availability="AlisaAvailable on Sundays",
                         paths=("volunteering", "combat_service"),
                         preferred_locale="pl", source="self", consent_version="2026-01")
    bob = make_contact("Bohdan Otherov", email="bohdan.other@example.org", phone="+48 600 700 802",
                       messenger="@bohdan_ot", city="Vilnius", country="Lithuania", skills="BobSkill",
                       paths=("joint_projects",))
    meeting = Meeting(city="Warszawa", country="PL", starts_at=datetime(2026, 5, 17, 18, 0, tzinfo=UTC),
                      venue="Hall 3")
    meeting.notes = "MeetingSecretNote"
    db.session.add(meeting)
    db.session.flush()
    for person in (alice, bob):
        db.session.add(Attendance(meeting_id=meeting.id, contact_id=person.id, recorded_by_id=staff.id))
    contact_notes.add_note(alice, "AliceNoteMarker: prefers evenings", staff, meeting)
    contact_notes.add_note(bob, "BobNoteMarker: knows Alisa", staff, meeting)
    alice_followup = FollowUp(contact_id=alice.id, kind="call", path="volunteering", status="done",
                              assignee_id=staff.id, created_by_id=staff.id,
                              due_at=datetime(2026, 5, 20, 9, 0, tzinfo=UTC),
                              completed_at=datetime(2026, 5, 20, 10, 0, tzinfo=UTC))
    alice_followup.outcome = "AliceOutcomeMarker"
    bob_followup = FollowUp(contact_id=bob.id, kind="message", status="open", assignee_id=staff.id)
    bob_followup.outcome = "BobOutcomeMarker"
    db.session.add_all([alice_followup, bob_followup])
    db.session.flush()
    move_stage(alice.id, "volunteering", "contacted", actor_id=staff.id)
    db.session.commit()
    return alice, bob, staff, meeting
