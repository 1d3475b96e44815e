"""In a real browser: a coordinator reviews an infiltration flag and confirms it from the list.

The page fixture fails the test on any console error, page error, CSP violation
or request to another host.
"""
import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Contact, Signal
from crm.services import signal_checks
from tests.e2e.conftest import VIEWPORTS
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def coordinator(enrolled_user):
    return enrolled_user("e2e-coordinator", role="coordinator", clearance=False)


@pytest.mark.parametrize("viewport", ["phone", "laptop"])
def test_confirm_a_flag_from_the_review_page(open_browser, coordinator, make_contact, viewport, tmp_path):
    make_contact("Anna Kowalska", phone="+48 600 111 222", paths=("volunteering",))
    newcomer = make_contact("Boris Zubov", phone="600111222", paths=("volunteering",))
    signal_checks.scan_contact(newcomer.id)
    db.session.commit()
    page = open_browser(VIEWPORTS[viewport])
    sign_in(page, coordinator)
    page.click("nav >> text=Signals")
    page.wait_for_url("**/signals/")
    assert "Open (2)" in page.inner_text("main")
    flag = page.locator("article.signal").filter(has=page.locator("h2", has_text="Boris Zubov"))
    assert "Same Phone as another contact, whose name differs." in flag.inner_text()
    flag.locator("input[value=confirm]").check()
    flag.locator("textarea[name=note]").fill("Used a coordinator's number to get in.")
    page.screenshot(path=str(tmp_path / f"signals-{viewport}.png"), full_page=True)
    flag.locator("button[type=submit]").click()
    page.wait_for_url("**/signals/")
    assert "The flag is confirmed" in page.inner_text("main") and "Open (1)" in page.inner_text("main")
    db.session.expire_all()
    confirmed = db.session.scalars(select(Signal).where(Signal.contact_id == newcomer.id)).one()
    assert confirmed.status == "confirmed"
    assert db.session.get(Contact, newcomer.id).trust_level == "unverified"
