"""Hostile input to every public form: never a 500, nothing stored unless the submission is valid.

Hypothesis posts random and hostile values (overlong strings, control and bidi
characters, NUL bytes, HTML and script, SQL fragments, wrong types, missing and
duplicated fields) to the join form and the confirmation button.
"""
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Contact, PendingRegistration
from crm.services import registration
from crm.services.contacts import ValidationError
from tests.integration.join_helpers import form_tokens, quick_forms, valid_answers  # noqa: F401

pytestmark = pytest.mark.usefixtures("quick_forms")

FIELDS = ("full_name", "email", "phone", "messenger", "country", "city", "paths", "skills", "languages",
          "availability", "message", "locale", "consent", "website", "started", "csrf_token")
HOSTILE = [
    "", " ", "\x00", "a\x00b", "\u202eevil\u202c", "\u2066x\u2069", "\u200b", "\ufeff", "\r\n\r\n", "\t",
    "<script>alert('x')</script>", "\"><img src=x onerror=alert(1)>", "{{ 7*7 }}", "{% raw %}",
    "' OR '1'='1", "Robert'); DROP TABLE contact;--", "%00", "%s%s%n", "../../etc/passwd",
    "x" * 5000, "ж" * 3000, "😀" * 400, "9" * 50, "+48 600 100 200", "not-an-email", "a@b", "@",
    "volunteering", "combat_service", "reserve_training", "unknown_path", "be", "xx", "y", "false", "0",
    "\ud7ff", "\U0010ffff", "\x1b[31m", "\x7f", "ñ\u0303",
]
value = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300),
                  st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
field_value = st.one_of(st.none(), value, st.lists(value, min_size=2, max_size=3))  # missing, one, duplicated


def stored_counts():
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(PendingRegistration)),
            db.session.scalar(select(func.count()).select_from(Contact)))


@pytest.fixture
def lifted_limits(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_JOIN", "100000 per minute")
    monkeypatch.setitem(app.config, "RATELIMIT_JOIN_EMAIL", "100000 per minute")


def check_response(response, sent):
    assert response.status_code < 500, response.status_code
    body = response.get_data(as_text=True)
    assert "<script>alert" not in body and '"><img' not in body, "reflected unescaped"
    assert "Traceback" not in body


@pytest.mark.usefixtures("lifted_limits")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.fixed_dictionaries({}, optional={name: field_value for name in FIELDS}),
       keep_valid=st.sets(st.sampled_from(FIELDS)), path=st.sampled_from(["/join", "/be/join", "/uk/join"]))
def test_hostile_join_posts(app, client, fields, keep_valid, path):
    csrf, started = form_tokens(client, path)
    data = {**valid_answers(), "csrf_token": csrf, "started": started}
    data = {name: v for name, v in data.items() if name in keep_valid}  # the rest are replaced or missing
    data.update({name: v for name, v in fields.items() if v is not None})
    before = stored_counts()
    response = client.post(path, data=data)
    check_response(response, data)
    after = stored_counts()
    assert after[1] == before[1], "a contact only ever comes from a confirmed registration"
    if after[0] != before[0]:
        assert response.status_code == 302
        pending = db.session.scalars(
            select(PendingRegistration).order_by(PendingRegistration.created_at.desc())).first()
        stored = registration._registration_data(pending)
        assert registration.validate(stored) == {}, "only a valid submission is stored"
        assert stored.email and stored.full_name and stored.paths and stored.consent_version


@pytest.mark.usefixtures("lifted_limits")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.one_of(st.text(min_size=16, max_size=64, alphabet=st.characters(codec="utf-8",
                                                                              exclude_characters="/?#%")),
                       st.sampled_from(HOSTILE)),
       extra=st.dictionaries(st.sampled_from(FIELDS), field_value, max_size=3))
def test_hostile_confirmation_posts(app, client, token, extra):
    page = client.get("/en/join")
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    data = {"csrf_token": csrf, **{k: v for k, v in extra.items() if v is not None}}
    response = client.post(f"/join/confirm/{token}", data=data)
    check_response(response, data)
    assert response.status_code in (400, 404, 405, 308), response.status_code
    assert stored_counts() == (0, 0)


def test_a_body_over_the_public_limit_is_refused_with_413(app, client):
    csrf, started = form_tokens(client)
    big = "x" * (app.config["PUBLIC_MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/join", data={**valid_answers(message=big), "csrf_token": csrf, "started": started})
    assert response.status_code == 413
    assert "too long" in response.get_data(as_text=True)
    assert stored_counts() == (0, 0)


def test_the_service_refuses_what_the_form_would_refuse(app):
    data = registration.RegistrationData(full_name="A\u202eB", email="x@example.org", consent_version="1",
                                         paths=("volunteering",))
    with pytest.raises(ValidationError) as raised:
        registration.submit(data, link_for=lambda token: "http://x/" + token)
    assert set(raised.value.errors) == {"full_name"}
    assert stored_counts() == (0, 0)


@pytest.mark.parametrize("kind", ["json", "json-with-csrf-header", "multipart-file", "no-body",
                                  "query-string-only"])
def test_other_body_types_are_refused_without_storing(app, client, kind):
    csrf, started = form_tokens(client)
    answers = {**valid_answers(), "csrf_token": csrf, "started": started}
    if kind == "json":
        response = client.post("/en/join", json=answers)
    elif kind == "json-with-csrf-header":
        weird = {**answers, "full_name": {"a": [1, 2]}, "paths": [None, 3.5], "consent": True}
        response = client.post("/en/join", json=weird, headers={"X-CSRFToken": csrf})
    elif kind == "multipart-file":
        import io

        response = client.post("/en/join", data={**answers, "full_name": (io.BytesIO(b"\x00" * 100), "x.bin")},
                               content_type="multipart/form-data")
    elif kind == "no-body":
        response = client.post("/en/join")
    else:
        from urllib.parse import urlencode

        response = client.post("/en/join?" + urlencode(answers, doseq=True))
    assert 400 <= response.status_code < 500, response.status_code
    assert stored_counts() == (0, 0)


def public_post_urls(app):
    """A URL for every public endpoint that takes a POST (language and token parts filled in)."""
    from crm.security.route_matrix import PUBLIC, requirement

    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if requirement(rule.endpoint) != PUBLIC or "POST" not in rule.methods or "lang" not in rule.arguments:
                continue
            args = {name: "en" if name == "lang" else "t" * 40 for name in rule.arguments}
            urls.append(url_for(rule.endpoint, **args).replace("http://muster.test", ""))
    return sorted(set(urls))


def test_no_public_post_accepts_a_file_or_json(app, client):
    urls = public_post_urls(app)
    assert "/en/join" in urls
    csrf, _ = form_tokens(client)
    import io

    for url in urls:
        upload = client.post(url, data={"csrf_token": csrf, "email": (io.BytesIO(b"x"), "a.txt")},
                             content_type="multipart/form-data")
        as_json = client.post(url, json={"csrf_token": csrf, "email": {"a": 1}}, headers={"X-CSRFToken": csrf})
        assert upload.status_code == as_json.status_code == 415, url
    assert stored_counts() == (0, 0)
