"""In a real browser, on a phone: merge a duplicate pair side by side, undo it, request an export.

The page fixture fails the test on any console error, page error, CSP violation
or request to another host.
"""
import pytest

from crm.extensions import db
from crm.models import Contact
from crm.models.export import Export
from crm.services import duplicates
from tests.e2e.conftest import PHONE
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def coordinator(enrolled_user):
    return enrolled_user("e2e-merger", role="coordinator", clearance=False)


def test_merge_undo_and_export_on_a_phone(open_browser, coordinator, make_contact):
    kept = make_contact("Ira Bondar", email="ira@example.org", paths=("volunteering",))
    other = make_contact("Ira Bondar", email="IRA@example.org", phone="+48 600 700 800", paths=("joint_projects",))
    kept_id, other_id = kept.id, other.id
    duplicates.refresh_candidates()  # what the hourly cron job (or the page's button) does
    db.session.commit()
    page = open_browser(PHONE)
    sign_in(page, coordinator)

    page.goto(f"{page.base_url}/duplicates/")
    assert "IRA@example.org" in page.locator("main").inner_text()
    page.locator("a", has_text="Compare and merge").click()
    page.locator("h1", has_text="Merge contacts").wait_for()
    assert page.locator("#phone-merged").is_checked()  # a blank on the kept record is filled by default
    page.locator("#email-merged").check()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator("main button", has_text="Merge").click()
    page.wait_for_url(f"**/contacts/{kept_id}")
    assert "Merged." in page.locator(".flash").inner_text()
    assert "IRA@example.org" in page.locator("main").inner_text()
    db.session.expire_all()
    assert db.session.get(Contact, other_id) is None

    page.goto(f"{page.base_url}/contacts/{other_id}")  # the old id leads to the kept record
    page.wait_for_url(f"**/contacts/{kept_id}")
    page.goto(f"{page.base_url}/duplicates/merges")
    page.locator("button", has_text="Undo merge").click()
    page.wait_for_url(f"**/contacts/{other_id}")
    db.session.expire_all()
    assert db.session.get(Contact, other_id) is not None

    page.goto(f"{page.base_url}/exports/new")
    page.locator("#status").select_option("any")
    page.locator("#assignee").select_option("any")
    page.locator("main button", has_text="Request the export").click()
    page.wait_for_url("**/exports/")
    assert "being built" in page.locator("main").inner_text()
    assert db.session.query(Export).count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.problems.all() == []
