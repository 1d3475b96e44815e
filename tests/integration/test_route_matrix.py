"""The route x role matrix: every route is listed, and every persona gets what the matrix says.

Deny by default: a route missing from ``crm/security/route_matrix.py`` fails the
first test here and answers 403 in the app. The walk then requests every route
with every method as every persona (anonymous, staff on their own and on another
person's contact, with and without clearance, coordinator, admin).
"""
import re

import pytest

from crm.security import permissions
from crm.security.route_matrix import PUBLIC, ROUTE_PERMISSIONS, SIGNED_IN
from tests.integration.route_walk import PERSONAS, Persona, build_world, named_object, requests_for, send


def test_every_route_is_in_the_matrix(app):
    missing = sorted({rule.endpoint for rule in app.url_map.iter_rules()} - set(ROUTE_PERMISSIONS))
    assert not missing, f"add these endpoints to crm/security/route_matrix.py: {missing}"


def test_the_matrix_names_no_route_that_does_not_exist(app):
    stale = sorted(set(ROUTE_PERMISSIONS) - set(app.view_functions))
    assert not stale, f"remove these from crm/security/route_matrix.py: {stale}"


def test_view_decorators_agree_with_the_matrix(app):
    for endpoint, view in app.view_functions.items():
        declared = getattr(view, "required_permission", None)
        if declared is not None:
            assert ROUTE_PERMISSIONS[endpoint] == declared, endpoint


def test_an_endpoint_missing_from_the_matrix_is_refused_to_everyone(client, signed_in, monkeypatch):
    admin = signed_in("admin", clearance=True)
    assert client.get("/healthz").status_code == 200
    monkeypatch.delitem(ROUTE_PERMISSIONS, "core.healthz")
    assert client.get("/healthz").status_code == 403
    assert admin.get("/healthz").status_code == 403
    monkeypatch.delitem(ROUTE_PERMISSIONS, "admin.users")
    assert admin.get("/admin/users").status_code == 403


def _is_login_redirect(response):
    return response.status_code == 302 and "/login" in response.headers.get("Location", "")


def _check(persona, world, rule, method, response):
    needed = ROUTE_PERMISSIONS[rule.endpoint]
    status = response.status_code
    where = f"{persona.name} {method} {rule.rule} -> {status}"
    assert status < 500, where
    if needed == PUBLIC:
        assert status not in (401, 403), where
        return
    if world.user is None:
        assert (_is_login_redirect(response) if method == "GET" else status == 401), where
        return
    if needed != SIGNED_IN and not permissions.can(world.user, needed):
        assert status == 403, where
        return
    assert status not in (401, 403) and not _is_login_redirect(response), where
    target = named_object(rule, world)
    if target is not None and method == "GET":
        assert permissions.visible(world.user, target) == persona.sees_targets, where
        assert (status == 404) == (not persona.sees_targets), where


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_every_persona_against_every_route(persona, app, signed_in, make_user, make_contact):
    world = build_world(persona, app, signed_in, make_user, make_contact)
    checked = 0
    for rule, method, path in requests_for(app, world):
        if rule.endpoint == "auth.logout" or (rule.endpoint == "auth.logout_everywhere"):
            continue  # they would end the persona's session; covered in the auth tests
        response = send(world.client, method, path)
        _check(persona, world, rule, method, response)
        checked += 1
    assert checked >= len(ROUTE_PERMISSIONS) - 2
    if world.user is not None:
        # The persona is still signed in after the walk: no request above ended the session.
        assert world.client.get("/home").status_code == 200


@pytest.mark.parametrize("persona", [
    Persona("idor-staff", "staff", targets="other"),
    Persona("idor-uncleared", "coordinator", targets="restricted"),
], ids=lambda p: p.name)
def test_hidden_contacts_answer_404_on_every_route(persona, app, signed_in, make_user, make_contact):
    """IDOR through every route that names a contact or follow-up (GET and POST, with a CSRF
    token so the request reaches the lookup): another staff member's contact, and a
    restricted-only contact for a coordinator without clearance."""
    world = build_world(persona, app, signed_in, make_user, make_contact)
    named = [(rule, method, path) for rule, method, path in requests_for(app, world)
             if named_object(rule, world) is not None]
    if not named:
        pytest.skip("no route names a contact or follow-up yet: nothing to try")
    home = world.client.get("/home").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', home).group(1)
    for rule, method, path in named:
        data = {"csrf_token": token} if method != "GET" else None
        response = world.client.open(path, method=method, data=data, base_url="http://muster.test")
        allowed = ROUTE_PERMISSIONS[rule.endpoint] == SIGNED_IN or permissions.can(
            world.user, ROUTE_PERMISSIONS[rule.endpoint])
        assert response.status_code == (404 if allowed else 403), (method, rule.rule, response.status_code)
    assert world.client.get("/home").status_code == 200


def test_the_permissions_document_is_current(app):
    from pathlib import Path

    from crm.security.route_matrix import as_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
    assert doc.read_text() == as_markdown(app.url_map), \
        "regenerate: python -m crm.security.route_matrix > docs/permissions.md"


def test_an_htmx_request_after_the_session_ended_sends_the_browser_to_sign_in(client):
    response = client.post("/triage/act", headers={
        "HX-Request": "true", "HX-Current-URL": "http://muster.test/triage/?meeting=x"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/triage/"
    plain = client.get("/triage/")
    assert plain.status_code == 302 and "/login" in plain.headers["Location"]


def test_the_view_decorator_still_refuses_when_the_matrix_is_too_lax(client, signed_in, monkeypatch):
    staff = signed_in("staff")
    monkeypatch.setitem(ROUTE_PERMISSIONS, "admin.users", PUBLIC)
    assert staff.get("/admin/users").status_code == 403
    anonymous = client.get("/admin/users")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
