"""The signed-in user's own account: password, recovery codes, sessions."""
from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from ..security.passwords import verify_password
from ..services import auth as auth_service
from ..services import sessions, totp
from ..services.contacts import ValidationError
from .forms import ActionForm, ChangePasswordForm, PasswordOnlyForm
from .views import bp, code_limit


def _this_session():
    return sessions.find(session.get("sid"), stages=("full",))


@bp.get("/account")
@login_required
def account():
    """What the account has: sessions, recovery codes left, links to change things."""
    return render_template("auth/account.html", live=len(sessions.live_sessions(current_user.id)),
                           codes_left=totp.remaining_recovery_codes(current_user), form=ActionForm())


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@code_limit
def change_password():
    """Change the password (the current one is asked again); other sessions end."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            auth_service.change_password(current_user, form.new_password.data,
                                         current_password=form.current_password.data, keep=_this_session())
        except ValidationError as exc:
            for name, message in exc.errors.items():
                getattr(form, name).errors = [message]
        else:
            flash(_("Your password is changed. Other browsers were signed out."))
            return redirect(url_for("auth.account"))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/change_password.html", form=form), status


@bp.route("/account/recovery-codes", methods=["GET", "POST"])
@login_required
@code_limit
def recovery_codes():
    """How many recovery codes are left; new ones after the password is asked again."""
    form = PasswordOnlyForm()
    if form.validate_on_submit():
        if verify_password(current_user.password_hash, form.password.data):
            codes = totp.replace_recovery_codes(current_user)
            return render_template("auth/recovery_codes.html", codes=codes,
                                   continue_url=url_for("auth.account"))
        auth_service.record_failure(current_user, "reauth")
        form.password.errors = [_("The password is not right.")]
    status = 400 if form.is_submitted() else 200
    return render_template("auth/recovery_codes_new.html", form=form,
                           codes_left=totp.remaining_recovery_codes(current_user)), status


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere():
    """End every session of this account, this browser included."""
    ActionForm().validate_on_submit()  # CSRFProtect already refused a missing token
    sessions.end_sessions(current_user.id, actor_id=current_user.id, reason="logout_everywhere")
    logout_user()
    session.clear()
    flash(_("You are signed out everywhere."))
    return redirect(url_for("auth.login"))
