"""Request lifecycle: one commit per request, audit context, access check, headers, errors.

Views and services only flush; the request commits once at the end (or rolls
back), and jobs queued during the request go to Redis after that commit.
"""
import secrets

from flask import current_app, g, request

from .. import i18n
from ..extensions import db
from ..security import audit, route_matrix
from ..security.crypto import crypto
from . import errors, navigation

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _begin_request():
    g.request_id = secrets.token_hex(8)
    g.audit_token = audit.set_context(actor_id=None, request_id=g.request_id, ip=request.remote_addr)
    if not request.endpoint or request.endpoint != "static":
        crypto().refresh_if_changed()


def _finish_request(response):
    if response.status_code < 500:
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config.get("ENV_NAME") == "production":
        response.headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static":
        # Pages may show personal data: never let a browser or proxy keep them.
        response.headers["Cache-Control"] = "no-store"
    response.headers["X-Request-Id"] = g.get("request_id", "")
    return response


def _teardown(exc):
    token = g.pop("audit_token", None)
    if token is not None:
        audit.reset_context(token)


def init_app(app):
    i18n.init_app(app)
    app.before_request(_begin_request)
    # Deny by default: every endpoint must be listed in crm/security/route_matrix.py.
    app.before_request(route_matrix.enforce)
    app.after_request(_finish_request)
    app.teardown_request(_teardown)
    errors.init_app(app)
    navigation.init_app(app)
