"""The public side: the join form with double opt-in, the privacy notice, the public layout.

Nothing here needs a signed-in user; everything here must give a stranger nothing:
the same answers and the same work whoever is typed in (docs/decisions/0017-self-registration.md).
"""
from flask import request

from ..security.route_matrix import PUBLIC, requirement


def _limit_public_body():
    """Public POSTs get a small body limit (staff uploads keep the global one)."""
    if request.method == "POST" and request.endpoint and requirement(request.endpoint) == PUBLIC:
        from flask import current_app

        request.max_content_length = current_app.config["PUBLIC_MAX_CONTENT_LENGTH"]


def init_app(app):
    from . import views

    # Registered before CSRFProtect's hook (which reads the form), so the limit applies to it too.
    app.before_request(_limit_public_body)
    app.register_blueprint(views.bp)
