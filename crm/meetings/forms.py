"""Forms of the meeting pages: the meeting itself and quick capture."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, DateTimeLocalField, HiddenField, IntegerField, SelectMultipleField, StringField,
    TextAreaField, widgets,
)
from wtforms.validators import Optional


class MultiCheckboxField(SelectMultipleField):
    """A multi-select shown as checkboxes: easier with a thumb than a list box."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form):
        # The service names an unknown or hidden choice; the form keeps what was sent.
        pass


class MeetingForm(FlaskForm):
    city = StringField(_l("City"))
    country = StringField(_l("Country code (PL, LT, DE…)"))
    starts_at = DateTimeLocalField(_l("Date and time (local)"), format="%Y-%m-%dT%H:%M",
                                   validators=[Optional()])
    venue = StringField(_l("Venue"))
    host_ids = MultiCheckboxField(_l("Hosts"), choices=[])
    notes = TextAreaField(_l("Notes (encrypted)"))
    expected_attendance = IntegerField(_l("Expected attendance"), validators=[Optional()])
    actual_attendance = IntegerField(_l("Actual attendance"), validators=[Optional()])


class CaptureForm(FlaskForm):
    """Quick capture: phone first, everything else optional but a name and one way to reach."""

    full_name = StringField(_l("Name"))
    phone = StringField(_l("Phone"))
    email = StringField(_l("Email"))
    messenger = StringField(_l("Messenger handle"))
    city = StringField(_l("City of residence"))
    paths = MultiCheckboxField(_l("Interested in"), choices=[])
    note = TextAreaField(_l("Short note"))
    consent = BooleanField(_l("Consent given"))
    consent_version = HiddenField()
