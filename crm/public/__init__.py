"""The public side: the join form with double opt-in, the privacy notice, the public layout.

Nothing here needs a signed-in user; everything here must give a stranger nothing:
the same answers and the same work whoever is typed in (docs/decisions/0017-self-registration.md).
"""
from flask import abort, current_app, request

from ..security.route_matrix import PUBLIC, requirement


def _limit_public_body():
    """Public POSTs: a small body limit (staff uploads keep the global one), form fields only.

    No public form takes a file or JSON; refusing them here (415) means no public view
    ever meets a file object or a JSON list where its form expects text.
    """
    if request.method == "POST" and request.endpoint and requirement(request.endpoint) == PUBLIC:
        request.max_content_length = current_app.config["PUBLIC_MAX_CONTENT_LENGTH"]
        if request.is_json or request.files:
            abort(415)


def init_app(app):
    from . import views

    # Registered before CSRFProtect's hook (which reads the form), so the limit applies to it too.
    app.before_request(_limit_public_body)
    app.register_blueprint(views.bp)
