"""Filling in the public join form through the real pages, for the join tests."""
import re

import pytest

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
STARTED_RE = re.compile(r'id="started" name="started" type="hidden" value="([^"]+)"')
LINK_RE = re.compile(r"https?://[^\s\"<>]+/join/confirm/[A-Za-z0-9_-]+")


def valid_answers(**overrides):
    """A complete, valid submission (override any field; None removes it)."""
    answers = {
        "full_name": "Alesia Testova", "email": "alesia.testova@example.org", "phone": "+48 600 300 401",
        "messenger": "@alesia_t", "country": "Poland", "city": "Wrocław",
        "paths": ["volunteering", "joint_projects"], "skills": "Translation, video editing",
        "languages": "Belarusian, Polish", "availability": "Weekday evenings", "message": "Hello!",
        "locale": "be", "consent": "y",
    }
    answers.update(overrides)
    return {k: v for k, v in answers.items() if v is not None}


def form_tokens(client, path="/join"):
    """(csrf token, fill-time token) of the join form at ``path``."""
    page = client.get(path, follow_redirects=True)  # /join redirects to /<language>/join
    assert page.status_code == 200, (path, page.status_code)
    html = page.get_data(as_text=True)
    return CSRF_RE.search(html).group(1), STARTED_RE.search(html).group(1)


def submit(client, path="/join", **overrides):
    """GET the form, then POST ``valid_answers(**overrides)`` with its tokens."""
    csrf, started = form_tokens(client, path)
    data = {"csrf_token": csrf, "started": started, **valid_answers(**overrides)}
    return client.post(path, data=data)


def confirm_link(message):
    """The confirmation URL in a mail's plain-text part."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = LINK_RE.search(text)
    assert match, text
    return match.group(0)


def press_confirm(client, url):
    """GET the confirmation page, then press its button (POST with the page's CSRF token)."""
    page = client.get(url, follow_redirects=True)
    if page.status_code != 200:
        return page
    csrf = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    return client.post(page.request.path, data={"csrf_token": csrf})


@pytest.fixture
def quick_forms(app, monkeypatch):
    """No minimum fill time (tests fill the form in microseconds), except where a test sets one."""
    monkeypatch.setitem(app.config, "JOIN_MIN_FILL_SECONDS", 0)
