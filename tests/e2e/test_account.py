"""In a real browser: the account page — password change, new recovery codes, a new
authenticator app, and signing out everywhere; no CSP violation on the way."""
import pyotp
import pytest
from playwright.sync_api import expect

from tests.auth_helpers import current_code, fresh_user
from tests.e2e.conftest import VIEWPORTS
from tests.e2e.conftest import PASSWORD

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "Copper-meadow-trellis-58-fjord"


def sign_in(page, user, password=PASSWORD):
    page.goto(page.base_url + "/login")
    page.fill("input[name=login]", user.login)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/login/code")
    page.fill("input[name=code]", current_code(user))  # never the code the other browser used
    page.click("main button[type=submit]")
    page.wait_for_url("**/home")


def test_account_changes_and_sign_out_everywhere(open_browser, enrolled_user):
    user = enrolled_user("e2e-account", role="staff")
    laptop, phone = open_browser(VIEWPORTS["laptop"]), open_browser(VIEWPORTS["phone"])
    sign_in(laptop, user)
    sign_in(phone, user)

    laptop.click("header .who")
    laptop.wait_for_url("**/account")
    assert laptop.locator("#live-sessions").inner_text() == "2"

    laptop.get_by_role("link", name="Change password").click()
    laptop.fill("input[name=current_password]", PASSWORD)
    laptop.fill("input[name=new_password]", NEW_PASSWORD)
    laptop.fill("input[name=confirm]", NEW_PASSWORD)
    laptop.click("main button[type=submit]")
    laptop.wait_for_url("**/account")
    assert laptop.locator("#live-sessions").inner_text() == "1"
    phone.goto(phone.base_url + "/home")
    assert "/login" in phone.url, "the other browser was signed out by the password change"

    laptop.get_by_role("link", name="Recovery codes").click()
    laptop.fill("input[name=password]", NEW_PASSWORD)
    laptop.click("main button[type=submit]")
    expect(laptop.locator("ol.recovery-codes li")).to_have_count(10)  # waits for the POST\'s page

    laptop.goto(laptop.base_url + "/account")
    laptop.get_by_role("link", name="New authenticator app").click()
    laptop.fill("input[name=password]", NEW_PASSWORD)
    laptop.fill("input[name=code]", current_code(user))
    laptop.click("main button[type=submit]")
    laptop.wait_for_url("**/login/enrol")
    secret = laptop.locator("#totp-secret").inner_text().replace(" ", "")
    assert secret == fresh_user(user).totp_secret
    laptop.fill("input[name=code]", pyotp.TOTP(secret).now())
    laptop.click("main button[type=submit]")
    expect(laptop.locator("ol.recovery-codes li")).to_have_count(10)  # waits for the POST\'s page
    laptop.click("text=I have kept them, continue")

    sign_in(phone, user, NEW_PASSWORD)
    laptop.goto(laptop.base_url + "/account")
    laptop.get_by_role("button", name="Sign out everywhere").click()
    laptop.wait_for_url("**/login")
    for page in (laptop, phone):
        page.goto(page.base_url + "/home")
        assert "/login" in page.url
    assert laptop.problems.all() == [] and phone.problems.all() == []
