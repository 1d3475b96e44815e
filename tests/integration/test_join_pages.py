"""The public pages: five languages with nothing untranslated, accessible markup, light pages."""
import re
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po

from crm import i18n_tools
from crm.i18n import LANGUAGES
from tests.integration.join_helpers import quick_forms, submit  # noqa: F401

PAGES = ("/{lang}/join", "/{lang}/join/thanks", "/{lang}/privacy", "/{lang}/join/confirm/" + "n" * 40)
MAX_PAGE_BYTES = 100 * 1024


def test_the_public_catalogs_are_complete():
    """The `crm.i18n_tools check` logic for the public domain: nothing missing, untranslated or fuzzy."""
    problems = i18n_tools.problems(domains=("public",))
    assert problems == [], "\n".join(str(p) for p in problems)


def english_sentences():
    """Every English string of the public domain that would stand out if left untranslated."""
    with open(i18n_tools.template_path("public"), "rb") as handle:
        catalog = read_po(handle)
    found = set()
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for msgid in ids:
            text = re.sub(r"%\(\w+\)[sd]", "", msgid or "").strip()
            if len(text) >= 4 and not text.startswith(("Telegram", "E-mail")):
                found.add(text.split("%")[0].strip())
    return found


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_public_page_renders_fully_translated(client, lang):
    english = english_sentences()
    for page in PAGES:
        response = client.get(page.format(lang=lang))
        html = response.get_data(as_text=True)
        assert f'<html lang="{lang}">' in html
        visible = re.sub(r"<[^>]+>", " ", html)
        left = [s for s in english if s in visible and s not in ("Email",)]
        assert not left, f"{page} in {lang} shows English: {left}"


def test_english_is_the_default_and_the_url_language_wins(client):
    assert client.get("/join").headers["Location"] == "/en/join"
    negotiated = client.get("/join", headers={"Accept-Language": "pl,en;q=0.5"})
    assert negotiated.status_code == 302 and negotiated.headers["Location"] == "/pl/join"
    client.set_cookie("lang", "be", domain="muster.test")
    assert client.get("/privacy", headers={"Accept-Language": "pl"}).headers["Location"] == "/be/privacy"
    page = client.get("/uk/join", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    assert '<html lang="uk">' in page
    assert 'action="/uk/join"' in page, "the form posts back in the URL's language"
    assert 'href="/be/join"' in page, "the switcher links the same page in the other languages"
    assert client.get("/xx/join").status_code == 404


class FormAudit(HTMLParser):
    """Inputs, labels and what points at what, from the served HTML."""

    def __init__(self):
        super().__init__()
        self.inputs, self.labels, self.ids, self.described, self.assets = [], set(), set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden", "submit"):
            self.inputs.append(attrs)
        if tag == "label" and attrs.get("for"):
            self.labels.add(attrs["for"])
        if attrs.get("aria-describedby"):
            self.described.extend(attrs["aria-describedby"].split())
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.assets.append(attrs["href"])
        if tag == "script":
            self.assets.append(attrs.get("src") or "inline script")


def audit(html):
    parser = FormAudit()
    parser.feed(html)
    return parser


@pytest.mark.usefixtures("quick_forms")
def test_every_field_has_a_label_and_errors_are_tied_to_their_fields(client):
    page = audit(client.get("/en/join").get_data(as_text=True))
    assert page.inputs and all(i["id"] in page.labels for i in page.inputs)
    assert set(page.described) <= page.ids
    assert not [a for a in page.assets if "script" in a], "the public pages need no JavaScript"

    response = submit(client, email="not-an-email", full_name="", paths=[], consent=None)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    errored = audit(html)
    for field in ("email", "full_name", "paths", "consent"):
        assert f'id="{field}-error"' in html, field
        assert f"{field}-error" in errored.described, field
    assert 'aria-invalid="true"' in html and 'role="alert"' in html
    assert 'value="Wrocław"' in html, "what was typed is kept"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_page_weighs_under_100_kb_with_its_css_and_js(client, lang):
    for page in PAGES:
        response = client.get(page.format(lang=lang))
        html = response.get_data()
        total = len(html)
        for asset in audit(html.decode()).assets:
            assert asset.startswith("/static/"), asset
            total += len(client.get(asset).get_data())
        assert total <= MAX_PAGE_BYTES, (page, lang, total)
