"""In a real browser, on a phone: capture people at a meeting, spot a duplicate, then triage and assign.

The page fixture fails the test on any console error, page error, CSP violation
or request to another host.
"""
import os
from datetime import datetime

import pytest

from crm.extensions import db
from crm.models import Attendance, Contact
from crm.services.meetings import MeetingData, create_meeting
from tests.e2e.conftest import PHONE
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e


def shoot(page, name):
    """Keep a screenshot when MUSTER_SCREENSHOTS names a folder (for a human to look at)."""
    folder = os.environ.get("MUSTER_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name), full_page=True)


@pytest.fixture
def coordinator(enrolled_user):
    return enrolled_user("e2e-coord", role="coordinator", clearance=False)


def test_capture_at_a_meeting_then_triage_and_assign_on_a_phone(open_browser, coordinator, make_user,
                                                                  make_contact):
    staffer, _ = make_user("e2e-staffer", role="staff")
    known = make_contact("Łukasz Kowalski", phone="+48 600 200 300", paths=("joint_projects",))
    meeting = create_meeting(MeetingData(city="Wrocław", country="PL", starts_at=datetime(2026, 11, 20, 18)))
    db.session.commit()

    page = open_browser(PHONE)
    sign_in(page, coordinator)
    page.goto(f"{page.base_url}/meetings/{meeting.id}")
    capture = page.locator("#capture")
    assert capture.locator("input[name=full_name]").evaluate("el => el === document.activeElement")
    # No restricted path is offered to a coordinator without clearance.
    assert capture.locator("input[value=combat_service]").count() == 0

    # Two people, typed with the keyboard only: save-and-next keeps us on the page.
    for n, (name, phone) in enumerate([("Anna Testowa", "600 100 201"), ("Borys Testowy", "600 100 202")], 1):
        page.keyboard.type(name)
        capture.locator("input[name=phone]").fill(phone)
        capture.locator("input[value=volunteering]").check()
        capture.locator("input[name=consent]").check()
        capture.locator("input[name=phone]").press("Enter")
        page.locator("#capture .flash", has_text=f"Saved {name}.").wait_for()
        assert page.locator("#capture .count").inner_text().startswith(f"{n} ")
        assert page.locator("#capture input[name=full_name]").input_value() == ""
        assert page.locator("#capture input[name=full_name]").evaluate("el => el === document.activeElement")
    assert page.url.endswith(f"/meetings/{meeting.id}")
    # The list of people met here followed, without a reload.
    attendees = page.locator("#attendees").inner_text()
    assert "Anna Testowa" in attendees and "Borys Testowy" in attendees

    # A person already known: the duplicate warning, then attach to the existing contact.
    page.locator("#capture input[name=full_name]").fill("Lukasz Kowalski")
    page.locator("#capture input[name=phone]").fill("600-200-300")
    page.locator("#capture button", has_text="Save and next").click()
    page.locator("#capture .candidates").wait_for()
    assert "Łukasz Kowalski" in page.locator("#capture .candidates").inner_text()
    page.locator(f"#capture button[name=attach_to][value='{known.id}']").click()
    page.locator("#capture .flash", has_text="Added this meeting to Łukasz Kowalski.").wait_for()
    assert page.locator("#capture .count").inner_text().startswith("3 ")
    assert db.session.query(Contact).count() == 3
    assert db.session.query(Attendance).filter_by(contact_id=known.id).count() == 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    shoot(page, "meeting-phone.png")

    # Triage: the new people are waiting, oldest first; assign one in place.
    page.goto(f"{page.base_url}/triage/?meeting={meeting.id}")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 3
    anna = rows.filter(has_text="Anna Testowa")
    anna.locator("summary").click()
    anna.locator("select[name=assignee]").select_option(label="e2e-staffer")
    anna.locator("button", has_text="Assign").click()
    page.locator("tr.done", has_text="1 contact assigned.").wait_for()
    shoot(page, "triage-phone.png")
    db.session.expire_all()
    assigned = db.session.query(Contact).filter_by(assignee_id=staffer.id).one()
    assert assigned.full_name == "Anna Testowa" and assigned.status == "triaged"

    # Bulk: tick everything left on the page and snooze it, without leaving the page.
    page.reload()
    assert page.locator("table.queue tbody tr").count() == 2
    page.locator("input.select-all").check()
    page.locator("#bulk-form summary").click()
    page.locator("#bulk-action").select_option("not_a_fit")
    page.locator("#bulk-reason").select_option("duplicate")
    page.locator("#bulk-form button", has_text="Apply to ticked").click()
    page.locator("#queue .flash", has_text="2 contacts marked not a fit.").wait_for()
    assert page.locator("table.queue tbody tr").count() == 0

    # The contact page of the person assigned: everything on one phone-wide column.
    page.goto(f"{page.base_url}/contacts/{assigned.id}")
    assert page.locator("h1").inner_text() == "Anna Testowa"
    assert "Interested" in page.locator("#paths").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "contact-phone.png")
    assert page.problems.all() == []
