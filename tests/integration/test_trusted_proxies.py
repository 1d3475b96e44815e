"""TRUSTED_PROXIES: whose X-Forwarded-For decides the client address the audit log records.

By default no proxy is trusted, so a client cannot plant an address in the audit
log (or dodge the per-address rate limits) with a header. Behind one proxy the
address that proxy saw is used.
"""
import pytest
from sqlalchemy import select

from crm import create_app
from crm.errors import ConfigurationError
from crm.extensions import db
from crm.models import AuditEvent
from tests.auth_helpers import FreshContextClient, csrf_token

PROXY, CLIENT, FORGED = "10.0.0.2", "203.0.113.9", "198.51.100.7"


def failed_sign_in_address(client):
    """Fail a sign-in arriving from PROXY with an X-Forwarded-For; the address audited for it."""
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"login": "nobody", "password": "wrong password 1",
                                           "csrf_token": token},
                           headers={"X-Forwarded-For": f"{FORGED}, {CLIENT}"},
                           environ_base={"REMOTE_ADDR": PROXY})
    assert response.status_code in (200, 400, 401)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login.failed")
                               .order_by(AuditEvent.id.desc())).first()
    return event.ip


def app_like(app, **overrides):
    config = {key: app.config[key] for key in (
        "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "INSTANCE_DIR", "MUSTER_KEYRING", "MUSTER_KEYRING_FILE",
        "SERVER_NAME")}
    other = create_app(test_config={"TESTING": True, "WTF_CSRF_ENABLED": True, **config, **overrides})
    other.test_client_class = FreshContextClient
    return other


def test_by_default_forwarded_headers_are_ignored(app, client):
    assert app.config["TRUSTED_PROXIES"] == 0
    assert failed_sign_in_address(client) == PROXY


def test_behind_one_trusted_proxy_the_address_it_saw_is_used(app):
    behind_nginx = app_like(app, TRUSTED_PROXIES=1)
    # The last address is the one our proxy added; the earlier one the client could forge.
    assert failed_sign_in_address(behind_nginx.test_client()) == CLIENT


def test_two_trusted_proxies_take_the_second_last_address(app):
    assert failed_sign_in_address(app_like(app, TRUSTED_PROXIES=2).test_client()) == FORGED


@pytest.mark.parametrize("bad", [-1, "1"])
def test_a_nonsense_count_stops_the_app(app, bad):
    with pytest.raises(ConfigurationError):
        app_like(app, TRUSTED_PROXIES=bad)
