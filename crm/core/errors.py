"""Friendly, translated error pages that never echo a stack trace or request data.

Each page shows a fixed title and explanation for its status code and the
request id (an opaque reference for the operators' logs); never the exception's
own description, which may quote what was sent.
"""
import logging

from flask import g, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound

from ..errors import NotFound as ServiceNotFound
from ..extensions import db

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Bad request"),
          _l("The request could not be understood. If you were sending a form, reload the page and try again.")),
    401: (_l("Please sign in"), _l("This page is for signed-in staff only.")),
    403: (_l("Not allowed"), _l("Your account does not have access to this page.")),
    404: (_l("Page not found"),
          _l("There is nothing here, or it is not available to you. Check the link or go back to the start page.")),
    405: (_l("Method not allowed"), _l("This page cannot be used that way. Go back and use the buttons on the page.")),
    413: (_l("Too much data"), _l("What you sent is too large. Send a smaller file or less text.")),
    429: (_l("Too many requests"), _l("Too many attempts in a short time. Please wait a few minutes and try again.")),
    500: (_l("Something went wrong"),
          _l("The server could not finish your request. Nothing was saved. Please try again later.")),
}
GENERIC = (_l("Something went wrong"), _l("The request could not be completed."))


# When even the error page cannot be rendered (the database is gone, so the signed-in
# user cannot be loaded): plain text that needs nothing, and still no details.
FALLBACK = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Muster</title></head>"
            "<body><h1>Error {code}</h1><p>The request could not be completed. Please try again later.</p>"
            "</body></html>")


def render_error(code, headers=None):
    """The error page for ``code``, with the status and any headers (e.g. Allow)."""
    title, message = MESSAGES.get(code, GENERIC)
    try:
        body = render_template("errors/error.html", code=code, title=title, message=message,
                               request_id=g.get("request_id"))
    except Exception as exc:  # noqa: BLE001 - the last line of defence must not raise
        log.error("error page %s failed to render (%s) in request %s", code, exc.__class__.__name__,
                  g.get("request_id"))
        db.session.rollback()
        body = FALLBACK.format(code=int(code))
    return body, code, headers or {}


def handle_http_error(error):
    if error.code is None or error.code < 400:
        return error  # a routing redirect (e.g. a missing trailing slash) is not an error
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return render_error(error.code, headers)


def handle_not_found(error):
    """A service said the object is missing or hidden from this user: both look alike."""
    return handle_http_error(NotFound())


def handle_unexpected(error):
    # Log the type and request id only: an exception message may quote personal data.
    log.error("unhandled %s in request %s", error.__class__.__name__, g.get("request_id"))
    db.session.rollback()
    return handle_http_error(InternalServerError())


def init_app(app):
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(ServiceNotFound, handle_not_found)
    if not app.testing or not app.config.get("PROPAGATE_EXCEPTIONS"):
        app.register_error_handler(Exception, handle_unexpected)
