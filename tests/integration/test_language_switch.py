"""The staff language switcher: a CSRF-checked form that sets the ``lang`` cookie."""
import re

from crm.i18n import COOKIE_NAME
from tests.auth_helpers import cookie_domain, csrf_token

SWITCH = re.compile(r'<form method="post" action="/language" class="langswitch">')


def test_staff_switch_language_with_a_cookie_and_the_pages_follow(app, signed_in):
    client = signed_in("coordinator")
    page = client.get("/account", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    assert SWITCH.search(page) and '<option value="pl" lang="pl" selected>Polski</option>' in page
    token = csrf_token(client, "/account")
    response = client.post("/language", data={"csrf_token": token, "lang": "be", "next": "/account"},
                           headers={"Accept-Language": "pl"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    cookie = client.get_cookie(COOKIE_NAME, domain=cookie_domain(app))
    assert cookie.value == "be" and cookie.http_only
    assert "samesite=lax" in response.headers["Set-Cookie"].lower()
    page = client.get("/account", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    assert '<html lang="be"' in page and "Выйсці" in page


def test_the_sign_in_page_offers_the_switch_and_it_works_before_sign_in(app, client):
    token = csrf_token(client, "/login")
    assert SWITCH.search(client.get("/login").get_data(as_text=True))
    response = client.post("/language", data={"csrf_token": token, "lang": "uk", "next": "/login"})
    assert response.status_code == 302
    body = client.get("/login").get_data(as_text=True)
    assert '<html lang="uk"' in body and "<h1>Увійти</h1>" in body


def test_a_foreign_next_goes_home_and_bad_input_is_refused(app, client):
    token = csrf_token(client, "/login")
    response = client.post("/language", data={"csrf_token": token, "lang": "ru", "next": "//evil.example/x"})
    assert response.status_code == 302 and "evil" not in response.headers["Location"]
    assert client.post("/language", data={"csrf_token": token, "lang": "xx", "next": "/login"}).status_code == 400
    assert client.post("/language", data={"lang": "ru", "next": "/login"}).status_code == 400  # no CSRF token
    assert client.get_cookie(COOKIE_NAME, domain=cookie_domain(app)).value == "ru"


def test_error_pages_show_no_switch_to_anonymous_visitors(client):
    body = client.get("/nowhere").get_data(as_text=True)
    assert not SWITCH.search(body) and 'name="csrf_token"' not in body
