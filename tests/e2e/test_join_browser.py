"""In a real browser, on a phone, in Belarusian: join, read the mail, confirm, land in triage.

The mail goes through a real worker process to the aiosmtpd server of the test;
the page fixture fails the test on any console error, CSP violation or off-site request.
"""
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Contact
from tests.e2e.conftest import PHONE
from tests.e2e.test_capture_flow import shoot
from tests.integration.join_helpers import confirm_link

pytestmark = pytest.mark.e2e


def fits_the_phone(page):
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def take_status_note(page, status):
    """Chromium notes a 4xx page in the console; the one the test provoked is checked and taken off."""
    reason = {400: "BAD REQUEST", 404: "NOT FOUND"}[status]
    assert page.problems.console_errors == [
        f"Failed to load resource: the server responded with a status of {status} ({reason})"]
    page.problems.console_errors.clear()


def test_belarusian_join_on_a_phone(open_browser, smtp_server, run_worker, app, monkeypatch):
    monkeypatch.setitem(app.config, "JOIN_MIN_FILL_SECONDS", 1)
    page = open_browser(PHONE, locale="be-BY")
    page.goto(f"{page.base_url}/join")
    assert urlsplit(page.url).path == "/be/join", "the browser's language is negotiated into the URL"
    assert page.locator("html").get_attribute("lang") == "be"
    assert page.locator("h1").inner_text() == "Далучайцеся да нас"
    assert page.locator("script").count() == 0
    assert fits_the_phone(page)

    # Sent empty: the errors are in Belarusian, next to their fields, and listed on top.
    page.locator("button[type=submit]").click()
    assert page.locator("#full_name-error").inner_text() == "Запоўніце гэтае поле."
    assert "Выберыце хаця б адзін спосаб удзелу." in page.locator("#paths-error").inner_text()
    assert page.locator(".error-summary").is_visible()
    take_status_note(page, 400)  # the form came back with status 400; nothing else was reported
    shoot(page, "join-errors-phone.png")

    page.get_by_label("Імя і прозвішча").fill("Аляксандра Тэставая")
    page.get_by_label("Электронная пошта").fill("aliaksandra.e2e@example.org")
    page.get_by_label("Тэлефон (неабавязкова)").fill("+48 600 700 801")
    page.get_by_label("Горад пражывання").fill("Беласток")
    page.get_by_label("Валанцёрства").check()
    page.get_by_label("Сумесныя праекты").check()
    page.locator("#consent").check()
    box = page.locator("#website").bounding_box()
    assert box["x"] + box["width"] < 0, "the honeypot is off-screen for people"
    page.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    page.locator("button[type=submit]").click()
    page.locator("h1", has_text="Дзякуй").wait_for()
    assert urlsplit(page.url).path == "/be/join/thanks"
    assert fits_the_phone(page)
    shoot(page, "join-thanks-phone.png")

    run_worker("mail")
    [message] = smtp_server.messages
    assert message["Subject"] == "Калі ласка, пацвердзіце свой адрас электроннай пошты"
    link = urlsplit(confirm_link(message))
    page.goto(page.base_url + link.path)
    assert page.locator("h1").inner_text() == "Пацвердзіце рэгістрацыю"
    assert db.session.scalars(select(Contact)).all() == [], "opening the link confirms nothing"
    page.get_by_role("button", name="Пацвердзіць").click()
    page.locator("h1", has_text="Рэгістрацыя пацверджана").wait_for()
    shoot(page, "join-confirmed-phone.png")

    run_worker("default")
    db.session.expire_all()
    [contact] = db.session.scalars(select(Contact)).all()
    assert contact.full_name == "Аляксандра Тэставая" and contact.preferred_locale == "be"
    assert (contact.source, contact.status) == ("self", "new")
    assert sorted(p.path for p in contact.paths) == ["joint_projects", "volunteering"]

    # The link is spent: opening it again shows the neutral "no longer works" page.
    page.goto(page.base_url + link.path)
    assert page.locator("h1").inner_text() == "Гэтая спасылка больш не працуе"
    take_status_note(page, 404)
    assert page.problems.all() == []
