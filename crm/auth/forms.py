"""Sign-in and account forms (Flask-WTF, CSRF on every one)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from ..services.auth import PASSWORD_MAX
from ..services.users import LOGIN_MAX

CODE_MAX = 32


class LoginForm(FlaskForm):
    login = StringField(_l("Login name"), validators=[InputRequired(), Length(max=LOGIN_MAX)],
                        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField(validators=[Length(max=512)])


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[InputRequired(), Length(max=CODE_MAX)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text",
                                  "autocapitalize": "none", "spellcheck": "false"})


class ReauthForm(FlaskForm):
    """Password and a current code, asked again before the second factor changes."""

    password = PasswordField(_l("Your password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)],
                             render_kw={"autocomplete": "current-password"})
    code = StringField(_l("A current code from your authenticator app"),
                       validators=[InputRequired(), Length(max=CODE_MAX)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class PasswordOnlyForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)],
                             render_kw={"autocomplete": "current-password"})


class NewPasswordForm(FlaskForm):
    """The forced first change: the one-time password was just typed, so it is not asked again."""

    new_password = PasswordField(_l("New password"), validators=[InputRequired(), Length(max=PASSWORD_MAX)],
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("New password again"),
                            validators=[InputRequired(), EqualTo("new_password", _l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(_l("Current password"),
                                     validators=[InputRequired(), Length(max=PASSWORD_MAX)],
                                     render_kw={"autocomplete": "current-password"})


class ActionForm(FlaskForm):
    """A button that changes state: only the CSRF token."""
