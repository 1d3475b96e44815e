"""Forms of the access alert and lockdown pages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length

REASON_MAX = 1000


class ReviewForm(FlaskForm):
    note = TextAreaField(_l("What you found"), validators=[
        InputRequired(message=_l("Say what you found.")), Length(max=REASON_MAX)])
    reinstate = BooleanField(_l("Reinstate the account (end its suspension)"))


class ReasonForm(FlaskForm):
    """Request, approve or lift a lockdown: a reason is required (stored encrypted)."""

    reason = TextAreaField(_l("Reason"), validators=[
        InputRequired(message=_l("Give a reason.")), Length(max=REASON_MAX)])


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""


def _number(label):
    return IntegerField(label, validators=[InputRequired(message=_l("Enter a whole number."))])


class SettingsForm(FlaskForm):
    reads_window_minutes = _number(_l("Window for contact reads (minutes)"))
    reads_alert = _number(_l("Alert at this many different contacts opened"))
    reads_suspend = _number(_l("Suspend at this many (0: never)"))
    scope_window_minutes = _number(_l("Window for opens outside one's scope (minutes)"))
    scope_min_opens = _number(_l("Judge the share only after this many opens"))
    scope_alert_percent = _number(_l("Alert when this percentage is outside their scope"))
    scope_suspend_percent = _number(_l("Suspend at this percentage (0: never)"))
    denied_window_minutes = _number(_l("Window for refused requests (minutes)"))
    denied_alert = _number(_l("Alert at this many refused requests"))
    denied_suspend = _number(_l("Suspend at this many (0: never)"))
