"""Every data-rights page and mail in every language, with no English string of the domain left."""
import html
import re

import pytest
from babel.messages.pofile import read_po

from crm import i18n_tools
from crm.i18n import SOURCE_DIR
from crm.services.mail import render_mail
from tests.integration.rights_helpers import ask, csrf, new_link, open_session, page_csrf, press

TRANSLATED = ("be", "ru", "uk", "pl")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\{.*?\}\}|%[sd]")


def _english_fragments():
    """The longest literal piece of every msgid of the domain (what would show if untranslated)."""
    with (SOURCE_DIR / "rights.pot").open("rb") as handle:
        template = read_po(handle)
    fragments = set()
    for message in template:
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        if not msgid:
            continue
        longest = max(PLACEHOLDER.split(msgid), key=len).strip()
        if len(longest) >= 6 and re.search(r"[a-z]{3}", longest):
            fragments.add(longest)
    return fragments


def _text(response_or_text):
    raw = response_or_text if isinstance(response_or_text, str) else response_or_text.get_data(as_text=True)
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def test_the_domain_catalogs_are_complete():
    problems = [p for p in i18n_tools.problems() if p.domain == "rights"]
    assert problems == []


def _pages(client, app, make_contact, lang):
    """(name, visible text) of every page and mail of the domain, asked for in ``lang``."""
    prefix = f"/{lang}"
    contact = make_contact("Ivan Pagesov", email=f"pages.{lang}@example.org", notes="Note", preferred_locale=lang)
    pages = [("ask", client.get(f"{prefix}/my-data"))]
    pages.append(("ask error", ask(client, "not an address", path=f"{prefix}/my-data")))
    pages.append(("asked", ask(client, f"someone.{lang}@example.org", path=f"{prefix}/my-data")))
    link = new_link(contact).replace("/my-data", f"{prefix}/my-data")
    pages.append(("link", client.get(link)))
    pages.append(("opened", press(client, link)))
    pages.append(("used link", app.test_client().get(link)))  # another browser: no open page to return to
    pages.append(("unknown link", client.get(f"{prefix}/my-data/link/{'x' * 43}")))
    pages.append(("manage", client.get(f"{prefix}/my-data/me")))
    token = page_csrf(client, f"{prefix}/my-data/me")
    pages.append(("export", client.post(f"{prefix}/my-data/export", data={"csrf_token": token, "format": "html"})))
    pages.append(("correct", client.get(f"{prefix}/my-data/correct")))
    pages.append(("correct error", client.post(f"{prefix}/my-data/correct", data={
        "csrf_token": page_csrf(client, f"{prefix}/my-data/correct"), "full_name": "", "email": "bad@",
        "phone": "letters", "messenger": "a\u202eb", "country": "x" * 200, "version_id": "1", "seen": "{}"})))
    pages.append(("corrected", press(client, f"{prefix}/my-data/correct", {"full_name": "Ivan Pagesov"})))
    pages.append(("erase", client.get(f"{prefix}/my-data/erase")))
    pages.append(("erase error", client.post(f"{prefix}/my-data/erase",
                                             data={"csrf_token": page_csrf(client, f"{prefix}/my-data/erase")})))
    pages.append(("erasing", press(client, f"{prefix}/my-data/erase", {"confirm": "y"})))
    pages.append(("ended", client.get(f"{prefix}/my-data/me")))
    with app.test_request_context():
        subject, text, body = render_mail("rights/link", lang, {"url": "https://example.org/x", "hours": 24})
    pages.append(("mail", f"{subject}\n{text}\n{body}"))
    return pages


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_page_and_mail_is_in_the_language_asked_for(client, app, make_contact, lang):
    fragments = _english_fragments()
    assert len(fragments) > 50
    for name, page in _pages(client, app, make_contact, lang):
        if not isinstance(page, str):
            assert page.status_code < 500, name
            assert page.status_code != 302 or name == "opened", (name, page.status_code)
            if name == "opened":
                continue
        visible = _text(page)
        left = sorted(f for f in fragments if f in visible)
        assert left == [], (lang, name, left)


def test_the_field_errors_are_translated_too(client, app, make_contact):
    contact = make_contact("Ivan Pagesov", email="errors@example.org")
    open_session(client, contact)
    page = client.post("/be/my-data/correct", data={
        "csrf_token": csrf(client.get("/be/my-data/correct").get_data(as_text=True)),
        "full_name": "", "email": "bad@", "phone": "letters", "version_id": "1", "seen": "{}"})
    text = _text(page)
    assert page.status_code == 400
    assert "Увядзіце" in text, "the Belarusian messages are shown next to the fields"
