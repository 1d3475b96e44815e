"""In a real browser, on a phone and a laptop: work the follow-up queue with the keyboard, in place.

The page fixture fails the test on any console error, page error, CSP violation
or request to another host.
"""
from datetime import timedelta

import pytest

from crm.extensions import db
from crm.models import FollowUp
from crm.models.base import utcnow
from crm.services import followups
from tests.e2e.conftest import VIEWPORTS
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def staffer(enrolled_user):
    return enrolled_user("e2e-staff", role="staff", clearance=False)


@pytest.mark.parametrize("viewport", ["phone", "laptop"])
def test_complete_an_overdue_follow_up_in_place(open_browser, staffer, make_contact, viewport):
    contact = make_contact("Ola Queue", paths=("volunteering",))
    contact.assignee_id = staffer.id
    db.session.commit()
    followup = followups.create(contact.id, "call", (utcnow() - timedelta(days=1)).date(), staffer,
                                path="volunteering")
    db.session.commit()
    followup_id = followup.id

    page = open_browser(VIEWPORTS[viewport])
    sign_in(page, staffer)
    nav = page.locator("nav.mainnav .nav-count.overdue")
    assert nav.inner_text().strip().endswith("1")
    page.goto(f"{page.base_url}/followups/")
    row = page.locator(f"#fu-{followup_id}")
    assert "Ola Queue" in row.inner_text()
    row.locator("summary").click()
    row.locator("textarea[name=outcome]").fill("Called, joins the next event")
    with page.expect_response(lambda r: r.url.endswith(f"/followups/{followup_id}/act")) as answer:
        row.locator("textarea[name=outcome]").press("Tab")
        page.keyboard.press("Enter")  # the Done button, reached with the keyboard
    assert answer.value.status == 200
    swapped = page.locator(f"#fu-{followup_id}")
    swapped.locator(".row-message").wait_for()
    assert "Marked done." in swapped.inner_text()
    assert page.url.endswith("/followups/")  # in place: no navigation
    db.session.expire_all()
    row_db = db.session.get(FollowUp, followup_id)
    assert (row_db.status, row_db.outcome) == ("done", "Called, joins the next event")
