"""Staff sign-in: Flask-Login over server-side sessions, CSRF, per-IP limits."""
import redis
from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Unauthorized

from ..extensions import csrf, limiter, login_manager
from ..redis_conn import get_redis
from ..security import audit
from ..services import sessions


class _EmbeddedRedisPool(redis.ConnectionPool):
    """A pool for the embedded Redis that finds (or starts) it at the first connection.

    So a CLI command that never checks a limit does not start the embedded server.
    """

    def __init__(self, app):
        super().__init__(connection_class=redis.UnixDomainSocketConnection, path=None)
        self._app = app

    def make_connection(self):
        if self.connection_kwargs.get("path") is None:
            embedded = get_redis(self._app).connection_pool.connection_kwargs
            self.connection_kwargs.update(path=embedded["path"], db=embedded.get("db", 0))
        return super().make_connection()


def configure_limiter_storage(app):
    """Flask-Limiter keeps its counters in the app's Redis, so limits hold across processes."""
    url = app.config["REDIS_URL"]
    if url:
        if url.startswith("unix://"):
            url = "redis+unix://" + url[len("unix://"):]
        app.config.setdefault("RATELIMIT_STORAGE_URI", url)
    else:
        app.config.setdefault("RATELIMIT_STORAGE_URI", "redis+unix:///embedded")
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"connection_pool": _EmbeddedRedisPool(app)})


def _load_user(user_id):
    return sessions.resume(user_id, session.get("sid"))


def _unauthorized():
    if request.method == "GET":
        # The path only: a query string may hold something that must not sit in a URL.
        return redirect(url_for("auth.login", next=request.path))
    raise Unauthorized(_("Sign in first."))


def _identify():
    """Put the signed-in user into the audit context; tell a browser whose session ended."""
    if request.endpoint == "static":
        return
    if current_user.is_authenticated:
        token = g.pop("audit_token", None)
        if token is not None:
            audit.reset_context(token)
        g.audit_token = audit.set_context(actor_id=current_user.id, request_id=g.get("request_id"),
                                          ip=request.remote_addr)
    elif "_user_id" in session:
        session.clear()
        flash(_("Your session has ended. Please sign in again."))


def _csrf_failed(error):
    """A form without a valid CSRF token: say so plainly (400), never a bare error."""
    return render_template("auth/csrf_error.html", reason=error.description), 400


def init_app(app):
    from . import account, views  # noqa: F401  (account adds its routes to views.bp)

    configure_limiter_storage(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.login_view = "auth.login"
    # Our server-side session already binds the cookie; Flask-Login's extra check is not needed.
    login_manager.session_protection = None
    app.before_request(_identify)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_blueprint(views.bp)
