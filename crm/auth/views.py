"""The sign-in flow: password, forced password change, TOTP enrolment or code.

A half-finished sign-in is a server-side session at a stage below "full"; the
rest of the app sees an anonymous visitor until the second factor is done.
Every step that succeeds moves the session to a fresh token.
"""
import hashlib
import hmac

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from ..extensions import db, limiter
from ..models import User
from ..services import auth as auth_service
from ..services import sessions
from ..services import totp as totp_service
from ..services.contacts import ValidationError
from .forms import ActionForm, CodeForm, LoginForm, NewPasswordForm, ReauthForm
from .redirects import safe_next

bp = Blueprint("auth", __name__)

SIGNIN_FAILED = _l("Sign-in failed. Check the login name, the password and the code, and try again.")
STAGE_ENDPOINTS = {"change_password": "auth.set_password", "enrol": "auth.enrol_totp", "totp": "auth.totp"}


def _failed(response):
    """Only failed attempts count toward the per-IP limits."""
    return response.status_code >= 400


def client_key():
    """The per-IP limit key: a keyed digest, so Redis never holds a client's address."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, (request.remote_addr or "-").encode(), hashlib.sha256).hexdigest()[:32]


login_limit = limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], key_func=client_key,
                            methods=["POST"], deduct_when=_failed)
code_limit = limiter.shared_limit(lambda: current_app.config["RATELIMIT_TOTP"], scope="second-factor",
                                  key_func=client_key, methods=["POST"], deduct_when=_failed)


def _next_url():
    return safe_next(session.get("next")) or url_for("core.index")


def _pending(stage):
    """(session row, user) for a half-finished sign-in at ``stage``, else (None, None)."""
    row = sessions.find(session.get("sid"), stages=(stage,))
    user = db.session.get(User, row.user_id) if row else None
    if user is None or not user.active:
        return None, None
    return row, user


def _restart():
    flash(_("Your sign-in expired or was interrupted. Please start again."))
    return redirect(url_for("auth.login"))


def _go_to_stage(row, user):
    """Advance to the next stage under a new token and redirect to its page."""
    stage = auth_service.next_stage(user)
    session["sid"] = sessions.advance(row, stage)
    return redirect(url_for(STAGE_ENDPOINTS[stage]))


def _finish(row, user):
    """Both factors done: a full session under a new token, then Flask-Login's cookie."""
    nxt = session.get("next")
    session.clear()
    session["sid"] = sessions.advance(row, "full")
    session["next"] = nxt
    login_user(user, remember=False)
    auth_service.signed_in(user)


@bp.route("/login", methods=["GET", "POST"])
@login_limit
def login():
    """Step 1: login name and password (the same answer for every kind of failure)."""
    if current_user.is_authenticated:
        return redirect(_next_url())
    form = LoginForm()
    if not form.is_submitted():
        form.next.data = safe_next(request.args.get("next")) or ""
        return render_template("auth/login.html", form=form)
    if not form.validate():
        auth_service.record_malformed()
        return render_template("auth/login.html", form=form, error=SIGNIN_FAILED), 400
    result = auth_service.check_password(form.login.data, form.password.data)
    if result is None:
        return render_template("auth/login.html", form=form, error=SIGNIN_FAILED), 401
    old = sessions.find(session.get("sid"))
    if old is not None:
        sessions.end(old, "superseded")
    session.clear()
    row, token = sessions.start(result.user, result.stage)
    session["sid"] = token
    session["next"] = safe_next(form.next.data)
    return redirect(url_for(STAGE_ENDPOINTS[result.stage]))


@bp.route("/login/new-password", methods=["GET", "POST"])
@code_limit
def set_password():
    """Step 2 at first sign-in: replace the one-time password."""
    row, user = _pending("change_password")
    if row is None:
        return _restart()
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            auth_service.change_password(user, form.new_password.data, keep=row)
        except ValidationError as exc:
            form.new_password.errors = [exc.errors.get("new_password", str(exc))]
        else:
            return _go_to_stage(row, user)
    status = 400 if form.is_submitted() else 200
    return render_template("auth/set_password.html", form=form), status


@bp.route("/login/code", methods=["GET", "POST"])
@code_limit
def totp():
    """Step 2: a code from the authenticator app, or one recovery code."""
    row, user = _pending("totp")
    if row is None:
        return _restart()
    form = CodeForm()
    if not form.is_submitted():
        return render_template("auth/totp.html", form=form)
    # A malformed code counts as a wrong one (toward the lockout), never as an error.
    if auth_service.check_second_factor(user, form.code.data if form.validate() else ""):
        _finish(row, user)
        return redirect(_next_url())
    if not user.active or auth_service.is_locked(user):
        sessions.end(row, "revoked")
        session.clear()
        return render_template("auth/login.html", form=LoginForm(formdata=None), error=SIGNIN_FAILED), 401
    return render_template("auth/totp.html", form=form, error=_("That code was not accepted.")), 401


@bp.route("/login/enrol", methods=["GET", "POST"])
@code_limit
def enrol_totp():
    """Set up the authenticator app: QR code and secret as text; the first code confirms it.

    Forced at first sign-in; a signed-in user reaches it after re-authenticating
    (password and a current code), which drops the old secret.
    """
    if current_user.is_authenticated:
        return _restart_enrolment()
    row, user = _pending("enrol")
    if row is None:
        return _restart()
    secret = totp_service.pending_secret(user)
    form = CodeForm()
    if form.validate_on_submit():
        codes = totp_service.confirm_enrolment(user, form.code.data)
        if codes:
            _finish(row, user)
            return render_template("auth/recovery_codes.html", codes=codes, continue_url=_next_url())
        form.code.errors = [_("That code does not match. Check the time on your phone and try again.")]
    uri, qr = totp_service.provisioning(user, secret)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/enrol.html", form=form, qr=qr, secret=grouped, uri=uri), status


def _restart_enrolment():
    form = ReauthForm()
    if form.validate_on_submit():
        row = sessions.find(session.get("sid"), stages=("full",))
        try:
            token = auth_service.restart_totp(current_user, form.password.data, form.code.data, keep=row)
        except ValidationError:
            form.code.errors = [_("The password or the code is not right.")]
        else:
            nxt = session.get("next")
            logout_user()
            session.clear()
            session["sid"], session["next"] = token, nxt
            return redirect(url_for("auth.enrol_totp"))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/reauth_totp.html", form=form), status


@bp.post("/logout")
def logout():
    """Sign out this browser (the server-side session ends too)."""
    form = ActionForm()
    if form.validate_on_submit():
        row = sessions.find(session.get("sid"))
        if row is not None:
            sessions.end(row, "logout")
    logout_user()
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))
