"""Absolute links to the data-rights pages, built from PUBLIC_BASE_URL (never the Host header)."""
from flask import current_app, url_for


def link_url(token, locale):
    """The mailed link for ``token`` in ``locale``: works from a job (no request needed)."""
    app = current_app._get_current_object()
    with app.test_request_context("/", base_url=app.config["PUBLIC_BASE_URL"]):
        return url_for("rights.link", lang=locale, token=token, _external=True)
