"""In a real browser, on a phone and a laptop: the reports page draws its charts with the
vendored Chart.js under the strict CSP (the page fixture fails on any console error, CSP
violation or request to another host), and its tables hold the same figures."""
from datetime import datetime

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Attendance
from crm.services.meetings import MeetingData, create_meeting
from tests.e2e.conftest import VIEWPORTS
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("viewport", ["phone", "laptop"])
def test_the_reports_page_draws_its_four_charts(open_browser, enrolled_user, make_contact, viewport):
    lead = enrolled_user("e2e-reports", role="coordinator", clearance=False)
    meeting = create_meeting(MeetingData(city="Vilnius", country="LT", starts_at=datetime(2026, 11, 20, 18)))
    for n in range(3):
        contact = make_contact(f"Chart Person{n}", paths=("volunteering",))
        db.session.add(Attendance(meeting_id=meeting.id, contact_id=contact.id))
    db.session.commit()
    page = open_browser(VIEWPORTS[viewport])
    sign_in(page, lead)
    page.click("nav.mainnav >> text=Reports")
    page.wait_for_url("**/reports/")
    expect(page.locator("canvas[data-chart]")).to_have_count(4)
    page.wait_for_function("() => [...document.querySelectorAll('canvas[data-chart]')]"
                           ".every(c => window.Chart && Chart.getChart(c) && c.width > 0)")
    drawn = page.evaluate("() => Chart.getChart(document.querySelectorAll('canvas[data-chart]')[2])"
                          ".data.datasets[0].data")
    assert drawn == [3]  # three people met in Vilnius
    row = page.locator("#funnel-title ~ .table-wrap tbody tr", has_text="Volunteering")
    expect(row).to_contain_text("3")
    assert "Chart Person" not in page.content()
