"""Hostile input to every data-rights form: never a 500, nothing stored unless valid.

Hypothesis posts random and hostile values (overlong strings, control and bidi
characters, NUL bytes, HTML and script, wrong types, missing and duplicated fields)
to the "my data" page, the link button, the export, the correction and the erasure forms.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Contact, ErasureRequest, RightsRequest
from crm.security import normalize
from crm.services.contacts import ContactData, _has_control_chars, validate
from tests.integration.rights_helpers import csrf, open_session

HOSTILE = [
    "", " ", "\x00", "a\x00b", "\u202eevil\u202c", "\u2066x\u2069", "\u200b", "\ufeff", "\r\n\r\n", "\t",
    "<script>alert('x')</script>", "\"><img src=x onerror=alert(1)>", "{{ 7*7 }}", "{% raw %}",
    "' OR '1'='1", "Robert'); DROP TABLE contact;--", "%00", "%s%s%n", "../../etc/passwd",
    "x" * 5000, "ж" * 3000, "😀" * 400, "9" * 50, "+48 600 100 200", "not-an-email", "a@b", "@",
    "someone@example.org", " Someone@Example.ORG ", "a\u202e@example.org", "x" * 250 + "@example.org",
    "be", "xx", "y", "false", "0", "json", "html", "\ud7ff", "\U0010ffff", "\x1b[31m", "\x7f", "ñ\u0303",
]
value = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300),
                  st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
field_value = st.one_of(st.none(), value, st.lists(value, min_size=2, max_size=3))
CORRECT_FIELDS = ("full_name", "email", "phone", "messenger", "city", "country", "languages", "skills",
                  "preferred_locale", "version_id", "seen", "notes", "status", "id")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def lifted_limits(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_RIGHTS", "100000 per minute")


def check(response):
    assert response.status_code < 500, response.status_code
    body = response.get_data(as_text=True)
    assert "<script>alert" not in body and '"><img' not in body, "reflected unescaped"
    assert "Traceback" not in body


def _count(model):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.usefixtures("lifted_limits")
@FUZZ
@given(email=field_value, extra=st.dictionaries(st.sampled_from(("lang", "format", "x")), field_value, max_size=2),
       path=st.sampled_from(["/my-data", "/be/my-data", "/pl/my-data"]))
def test_hostile_requests_for_a_link(app, client, email, extra, path):
    data = {"csrf_token": csrf(client.get(path).get_data(as_text=True)),
            **{k: v for k, v in extra.items() if v is not None}}
    if email is not None:
        data["email"] = email
    before = _count(RightsRequest)
    response = client.post(path, data=data)
    check(response)
    first = email[0] if isinstance(email, list) else email
    valid = (isinstance(first, str) and normalize.normalize_email(first.strip()) is not None
             and len(first.strip()) <= 254 and not _has_control_chars(first.strip(), multiline=False))
    assert _count(RightsRequest) == before + (1 if valid else 0), (first, response.status_code)
    assert response.status_code == (200 if valid else 400)


@FUZZ
@given(token=st.one_of(st.text(min_size=1, max_size=120, alphabet=st.characters(
    codec="utf-8", exclude_characters="/?#%\\")), st.sampled_from(HOSTILE)), method=st.sampled_from(["get", "post"]))
def test_hostile_link_tokens(app, client, token, method):
    data = {"csrf_token": csrf(client.get("/my-data").get_data(as_text=True))} if method == "post" else None
    response = getattr(client, method)(f"/my-data/link/{token}", data=data)
    check(response)
    assert response.status_code in (404, 405, 308, 410, 400), response.status_code


@pytest.fixture
def subject(app, client, make_contact):
    contact = make_contact("Fuzz Subject", email="fuzz.subject@example.org", phone="+48 600 111 222",
                           city="Łódź", country="Poland")
    open_session(client, contact)
    return contact


@FUZZ
@given(fields=st.fixed_dictionaries({}, optional={name: field_value for name in CORRECT_FIELDS}),
       lang=st.sampled_from(["", "/uk", "/ru"]))
def test_hostile_corrections(app, client, subject, fields, lang):
    page = client.get(f"{lang}/my-data/correct")
    assert page.status_code == 200
    data = {"csrf_token": csrf(page.get_data(as_text=True)), **{k: v for k, v in fields.items() if v is not None}}
    db.session.expire_all()
    version = db.session.get(Contact, subject.id).version_id
    response = client.post(f"{lang}/my-data/correct", data=data)
    check(response)
    db.session.expire_all()
    stored = db.session.get(Contact, subject.id)
    assert stored.notes is None and stored.status == "new", "only the person's own fields can change"
    if response.status_code != 200:
        assert stored.version_id == version, "a refused correction changes nothing"
    data = ContactData(**{name: getattr(stored, name) for name in (
        "full_name", "email", "phone", "messenger", "city", "country", "languages", "skills")})
    assert validate(data, "PL") == {}, "what is stored is always valid"


@FUZZ
@given(confirm=field_value, fmt=field_value)
def test_hostile_exports_and_erasure_confirmations(app, client, subject, confirm, fmt):
    token = csrf(client.get("/my-data/me").get_data(as_text=True))
    data = {"csrf_token": token}
    if fmt is not None:
        data["format"] = fmt
    check(client.post("/my-data/export", data=data))
    data = {"csrf_token": token}
    first = confirm[0] if isinstance(confirm, list) else confirm
    if confirm is not None:
        data["confirm"] = confirm
    response = client.post("/my-data/erase", data=data)
    check(response)
    requested = _count(ErasureRequest)
    if requested:
        assert response.status_code == 200 and first not in (None, "", "false"), first
        # Erasure was requested: open a fresh session for the next example.
        db.session.execute(ErasureRequest.__table__.delete())
        db.session.commit()
        open_session(client, db.session.get(Contact, subject.id))
    else:
        assert response.status_code == 400
