"""In a real browser at a phone-sized viewport: set "do not email" on a contact and vouch
for them (issue 8 items 1 and 5). The page fixture fails the test on any console error,
page error, CSP violation or request to another host."""
import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import AuditEvent, Contact
from tests.e2e.conftest import PHONE
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def cleared_coordinator(enrolled_user):
    return enrolled_user("e2e-cleared", role="coordinator", clearance=True)


def test_set_do_not_email_and_vouch_on_a_phone(open_browser, cleared_coordinator, make_contact):
    contact = make_contact("Daria Telefon", email="daria.phone@example.org", source="self")
    contact_id = contact.id
    page = open_browser(PHONE)
    sign_in(page, cleared_coordinator)
    page.goto(f"{page.base_url}/contacts/{contact_id}")

    page.get_by_label("Do not email").check()
    page.get_by_label("Safe times to reach").fill("weekdays after 18:00")
    page.get_by_role("button", name="Save safety fields").click()
    page.wait_for_url(f"**/contacts/{contact_id}*")
    expect(page.locator("main")).to_contain_text("Saved.")
    facts = page.locator("dl.facts").inner_text()
    assert "Do not email" in facts and "weekdays after 18:00" in facts
    assert page.get_by_label("Do not email").is_checked()

    page.get_by_role("button", name="Vouch for this person in my own name").click()
    page.wait_for_url(f"**/contacts/{contact_id}*")
    panel = page.locator("#trust").inner_text()
    assert "Vouched for" in panel and "e2e-cleared" in panel
    assert page.get_by_role("button", name="Vouch for this person in my own name").count() == 0

    db.session.expire_all()
    saved = db.session.get(Contact, contact_id)
    assert (saved.do_not_email, saved.trust_level, saved.vouched_by_user_id) == (
        True, "vouched", cleared_coordinator.id)
    assert db.session.query(AuditEvent).filter_by(action="contact.safety").count() == 1
