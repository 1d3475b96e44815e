"""The front page, the staff home page and the health check."""
from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, url_for
from sqlalchemy import text

from .. import i18n
from ..auth.redirects import safe_next
from ..extensions import db
from ..redis_conn import get_redis
from ..security.permissions import current_actor
from ..services.overview import home_figures
from .forms import LanguageForm

bp = Blueprint("core", __name__)


@bp.get("/")
def index():
    """Landing page: what this is and where to sign in (no data without sign-in)."""
    if current_actor() is not None:
        return redirect(url_for("core.home"))
    return render_template("core/index.html")


@bp.get("/home")
def home():
    """The signed-in start page: who you are and counts of your work (no names)."""
    user = current_actor()
    return render_template("core/home.html", figures=home_figures(user))


@bp.post("/language")
def language():
    """Remember the chosen language in the ``lang`` cookie and go back to the page it came from."""
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    response = redirect(safe_next(form.next.data) or url_for("core.index"))
    response.set_cookie(i18n.COOKIE_NAME, form.lang.data, max_age=i18n.COOKIE_MAX_AGE, httponly=True,
                        samesite="Lax", secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


@bp.get("/healthz")
def healthz():
    """Liveness for a load balancer: the database and Redis answer. No data."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report, never raise, from a probe
        checks["database"] = exc.__class__.__name__
    try:
        get_redis(current_app).ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = exc.__class__.__name__
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks), 200 if healthy else 503
