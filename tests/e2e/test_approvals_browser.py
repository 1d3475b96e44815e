"""In a real browser: a cleared coordinator asks (on a phone) to move a contact's combat service
path to screening, with a reason; a different cleared coordinator (on a laptop) sees the count
in the menu, cannot be the requester, and approves with a reason (issue 8 item 2). The page
fixture fails the test on any console error, page error, CSP violation or off-site request."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from crm.extensions import db
from crm.models import ApprovalRequest, PathChoice
from tests.e2e.conftest import LAPTOP, PHONE
from tests.e2e.test_join_browser import take_status_note
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def cleared(enrolled_user):
    def make(login):
        return enrolled_user(login, role="coordinator", clearance=True)

    return make


def stage(contact_id):
    db.session.expire_all()
    return db.session.scalar(select(PathChoice.stage).where(PathChoice.contact_id == contact_id,
                                                            PathChoice.path == "combat_service"))


def test_request_on_a_phone_then_another_coordinator_approves(open_browser, cleared, make_contact):
    ann, bob = cleared("e2e-ann"), cleared("e2e-bob")
    contact_id = make_contact("Marta Bojko", paths=("combat_service", "volunteering")).id

    asker = open_browser(PHONE)
    sign_in(asker, ann)
    asker.goto(f"{asker.base_url}/contacts/{contact_id}")
    section = asker.locator("#approvals")
    section.get_by_label("Move to stage").select_option("screening")
    section.get_by_role("button", name="Request approval").click()  # no reason yet
    expect(asker.locator("main")).to_contain_text("Give a reason.")
    take_status_note(asker, 400)  # the form came back with status 400, the choice kept
    asker.get_by_label("Reason (seen by the coordinator who decides)").fill("Met twice; references checked")
    asker.get_by_role("button", name="Request approval").click()
    asker.wait_for_url(f"**/contacts/{contact_id}*")
    expect(asker.locator("main")).to_contain_text("another cleared coordinator must approve it")
    expect(asker.locator("#approvals")).to_contain_text("Your own request")
    assert asker.locator("#approvals").get_by_role("button", name="Approve").count() == 0
    assert stage(contact_id) == "interested"

    approver = open_browser(LAPTOP)
    sign_in(approver, bob)
    menu_entry = approver.locator("nav.mainnav a", has_text="Approvals")
    assert menu_entry.locator(".nav-count").inner_text().split()[-1] == "1"
    menu_entry.click()
    approver.wait_for_url("**/approvals/")
    item = approver.locator("article.approval")
    text = item.inner_text()
    assert "Move Combat service to Screening" in text and "e2e-ann" in text
    assert "Met twice; references checked" in text and "Marta Bojko" in text
    item.get_by_role("button", name="Approve").click()  # a reason is required here too
    expect(approver.locator("main")).to_contain_text("Give a reason.")
    take_status_note(approver, 400)
    approver.locator("article.approval textarea").fill("Agreed after the call")
    approver.locator("article.approval").get_by_role("button", name="Approve").click()
    approver.wait_for_url("**/approvals/")
    expect(approver.locator("main")).to_contain_text("Approved and applied.")
    expect(approver.locator("main")).to_contain_text("Nothing is waiting for approval.")
    assert approver.locator("nav.mainnav a", has_text="Approvals").locator(".nav-count").count() == 0
    assert stage(contact_id) == "screening"
    request = db.session.scalar(select(ApprovalRequest))
    assert (request.status, request.requested_by_id, request.decided_by_id) == ("approved", ann.id, bob.id)

    asker.reload()
    expect(asker.locator("#paths")).to_contain_text("Combat service: Screening")
