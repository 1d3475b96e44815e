"""Forms of the admin pages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ..models.enums import ROLES

ROLE_CHOICES = [SelectChoice(role, role) for role in ROLES]


class NewUserForm(FlaskForm):
    login = StringField(_l("Login name"), validators=[
        DataRequired(), Length(max=64),
        Regexp(r"^[\w.-]+$", message=_l("Use letters, digits, dots, dashes or underscores.")),
    ])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="staff")
    clearance = BooleanField(_l("May see restricted paths (reserve training, combat service)"))


class AccessForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    clearance = BooleanField(_l("May see restricted paths (reserve training, combat service)"))


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""


class DangerForm(FlaskForm):
    """A button whose effect cannot be taken back by the next click (disable, reset the
    second factor, end sessions): a box beside it must be ticked first. No JavaScript
    needed, and a stray click or Enter does nothing. Built with a ``prefix`` per action,
    so several on one page keep distinct ids; the app-wide CSRF check covers the token."""

    class Meta:
        csrf = False

    confirmed = BooleanField(_l("Yes, I am sure"),
                             validators=[DataRequired(message=_l("Tick the box beside the button to confirm."))])


class AuditFilterForm(FlaskForm):
    """Read-only filters, sent as a GET query (ids, action names and dates only)."""

    class Meta:
        csrf = False

    actor = SelectField(_l("Actor"), choices=[], validators=[Optional()])
    action = StringField(_l("Action starts with"), validators=[Optional(), Length(max=64)])
    target = StringField(_l("Target id"), validators=[Optional(), Length(max=64)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])
