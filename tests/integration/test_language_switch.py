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


def test_service_errors_next_to_fields_speak_the_page_language(app, signed_in):
    from tests.auth_helpers import post_form

    client = signed_in("staff")
    client.set_cookie(COOKIE_NAME, "ru", domain=cookie_domain(app))
    response = post_form(client, "/account/password", {
        "current_password": "not-the-password", "new_password": "Another-long-phrase-of-words-93",
        "confirm": "Another-long-phrase-of-words-93"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and '<html lang="ru"' in body
    assert "Текущий пароль неверен." in body and "The current password is not right." not in body
    client.set_cookie(COOKIE_NAME, "en", domain=cookie_domain(app))
    response = post_form(client, "/account/password", {
        "current_password": client.password, "new_password": "short", "confirm": "short"})
    assert "Use at least" in response.get_data(as_text=True)
