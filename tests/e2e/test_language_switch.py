"""In a real browser: staff pick their language in the top bar; it sticks (cookie) across pages,
and the top bar with the switcher still fits a phone screen."""
import pytest

from tests.e2e.conftest import PHONE, VIEWPORTS
from tests.e2e.test_account import sign_in

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_staff_switch_language_and_it_sticks(open_browser, enrolled_user, viewport):
    user = enrolled_user(f"e2e-lang-{viewport}", role="coordinator")
    page = open_browser(VIEWPORTS[viewport])
    sign_in(page, user)
    assert page.locator("html").get_attribute("lang") == "en"
    if viewport == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.select_option("#langswitch-lang", "be")
    page.click("header form.langswitch button[type=submit]")
    page.wait_for_url("**/home")
    assert page.locator("html").get_attribute("lang") == "be"
    assert page.locator("header .signout button").inner_text() == "Выйсці"

    page.goto(page.base_url + "/account")  # another page: the cookie keeps the choice
    assert page.locator("html").get_attribute("lang") == "be"
    assert page.locator("main h1").inner_text() == "Ваш уліковы запіс"
    assert page.locator("#langswitch-lang").input_value() == "be"
    if viewport == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.select_option("#langswitch-lang", "pl")
    page.click("header form.langswitch button[type=submit]")
    page.wait_for_url("**/account")
    assert page.locator("main h1").inner_text() == "Twoje konto"
