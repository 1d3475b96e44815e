"""In a real browser: an access alert reviewed, and an emergency lockdown requested by one admin,
approved by another (both signed out), the banner shown, and lifted; no console error, no CSP
violation, at a laptop and a phone viewport."""
import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import User
from crm.services import access_alerts
from tests.e2e.conftest import VIEWPORTS
from tests.e2e.test_account import sign_in
from tests.integration.access_helpers import watch  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


def test_alert_review_and_a_two_person_lockdown(open_browser, enrolled_user, watch):
    first = enrolled_user("e2e-admin-a", role="admin")
    second = enrolled_user("e2e-admin-b", role="admin")
    staff = enrolled_user("e2e-staff", role="staff")
    access_alerts.raise_alert(db.session.get(User, staff.id), "reads",
                              {"contacts": 61, "window_minutes": 10, "alert_at": 60, "suspend_at": 150})
    db.session.commit()
    laptop, phone = open_browser(VIEWPORTS["laptop"]), open_browser(VIEWPORTS["phone"])
    sign_in(laptop, first)
    sign_in(phone, second)

    laptop.get_by_role("link", name="Alerts").click()
    laptop.wait_for_url("**/admin/access/alerts")
    expect(laptop.locator("body")).to_contain_text("61 different contacts opened in 10 minutes")
    laptop.fill("textarea[name=note]", "Reassigned a whole city to her this morning")
    laptop.get_by_role("button", name="Mark reviewed").click()
    laptop.wait_for_url("**/admin/access/alerts")
    assert "Alert reviewed." in laptop.content() and "No open alerts." in laptop.content()

    laptop.get_by_role("link", name="Emergency lockdown").click()
    laptop.fill("textarea[name=reason]", "A coordinator's phone was taken at the border")
    laptop.get_by_role("button", name="Request a lockdown").click()
    expect(laptop.locator("body")).to_contain_text("a different admin must approve it")

    phone.goto(phone.base_url + "/admin/access/lockdown")
    phone.fill("textarea[name=reason]", "Confirmed by a call")
    phone.get_by_role("button", name="Approve: start the lockdown now").click()
    phone.wait_for_url("**/login**")
    laptop.reload()
    assert "/login" in laptop.url, "every session ended, the requester's too"

    sign_in(phone, second)
    expect(phone.locator(".lockdown-banner")).to_contain_text("Emergency lockdown in force")
    phone.get_by_role("link", name="Lockdown page").click()
    phone.fill("textarea[name=reason]", "Phone recovered, accounts reset")
    phone.get_by_role("button", name="Lift the lockdown").click()
    phone.wait_for_url("**/admin/access/lockdown")
    expect(phone.locator("body")).to_contain_text("The lockdown is lifted.")
    assert phone.locator(".lockdown-banner").count() == 0
