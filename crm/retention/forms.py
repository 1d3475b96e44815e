"""Forms of the retention page: each action on one person carries a reason, or only the token."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField


class ReasonForm(FlaskForm):
    """Hold a person out of retention, or restore an archived one: why (stored encrypted)."""

    reason = TextAreaField(_l("Reason"))


class ConfirmForm(FlaskForm):
    """An action without input (release a hold): the CSRF token only."""
