"""The join form: every message translated, every field bounded, a honeypot and a fill-time token."""
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import EmailField, TelField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..i18n import LANGUAGE_NAMES, LANGUAGES
from ..models.enums import PATHS
from ..security import normalize
from ..services.contacts import MAX_LENGTHS, _has_control_chars
from ..services.registration import EXTRA_LENGTHS

LIMITS = {**MAX_LENGTHS, **EXTRA_LENGTHS}

# What each path means, said plainly: people choose with open eyes.
PATH_LABELS = {
    "joint_projects": _l("Joint projects"),
    "volunteering": _l("Volunteering"),
    "reserve_training": _l("Reserve training"),
    "combat_service": _l("Combat service"),
}
PATH_DESCRIPTIONS = {
    "joint_projects": _l("You run an organisation, an initiative or a project and want to work on "
                         "something together with us."),
    "volunteering": _l("Civilian help in your free time: events, media, translation, logistics, "
                       "fundraising."),
    "reserve_training": _l("Military training, then a place in the reserve. This is a serious "
                           "commitment: a coordinator will talk it through with you first."),
    "combat_service": _l("Direct participation in combat operations. This puts your life at risk; "
                         "nothing is decided by this form: a coordinator will talk it through with "
                         "you first, in person."),
}

REQUIRED = _l("Please fill this in.")
TOO_LONG = _l("Please keep this under %(max)d characters.")
CONTROL = _l("Please remove invisible or control characters from this field.")
BAD_EMAIL = _l("This does not look like an email address (it needs a name, @ and a domain).")
BAD_PHONE = _l("This does not look like a phone number. Use digits, with + and the country code.")
NO_PATH = _l("Choose at least one way to take part.")
BAD_CHOICE = _l("Choose one of the options shown.")
NO_CONSENT = _l("We can only keep your details with your consent.")


def bounded(name, multiline=False):
    """Length limit of the field ``name`` and a check for control and bidi characters."""

    def clean_text(form, field):
        if field.data and _has_control_chars(field.data, multiline):
            raise ValidationError(CONTROL)

    return [Length(max=LIMITS[name], message=TOO_LONG), clean_text]


def valid_email(form, field):
    if field.data and normalize.normalize_email(field.data) is None:
        raise ValidationError(BAD_EMAIL)


def valid_phone(form, field):
    region = current_app.config["DEFAULT_PHONE_REGION"]
    if field.data and normalize.normalize_phone(field.data, region) is None:
        raise ValidationError(BAD_PHONE)


class CheckboxesField(SelectMultipleField):
    """Several checkboxes; an unknown value gets our own (translated) message."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        values = {choice.value for choice in self.choices}
        if any(item not in values for item in self.data or ()):
            raise ValidationError(BAD_CHOICE)


class ChoiceField(SelectField):
    def pre_validate(self, form):
        if self.data not in {choice.value for choice in self.choices}:
            raise ValidationError(BAD_CHOICE)


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class JoinForm(FlaskForm):
    """Who the person is, how to reach them, what they offer, and their consent."""

    full_name = StringField(_l("Full name"), filters=[_strip],
                            validators=[DataRequired(REQUIRED), *bounded("full_name")])
    email = EmailField(_l("Email"), filters=[_strip],
                        validators=[DataRequired(REQUIRED), *bounded("email"), valid_email])
    phone = TelField(_l("Phone (optional)"), filters=[_strip],
                        validators=[Optional(), *bounded("phone"), valid_phone])
    messenger = StringField(_l("Telegram or Signal handle (optional)"), filters=[_strip],
                            validators=[Optional(), *bounded("messenger")])
    country = StringField(_l("Country of residence"), filters=[_strip],
                          validators=[Optional(), *bounded("country")])
    city = StringField(_l("City of residence"), filters=[_strip], validators=[Optional(), *bounded("city")])
    paths = CheckboxesField(_l("How would you like to take part?"),
                            choices=[SelectChoice(p, PATH_LABELS[p]) for p in PATHS])
    skills = TextAreaField(_l("Skills and experience"), filters=[_strip],
                           validators=[Optional(), *bounded("skills", multiline=True)])
    languages = StringField(_l("Languages you speak"), filters=[_strip],
                            validators=[Optional(), *bounded("languages")])
    availability = StringField(_l("When are you available?"), filters=[_strip],
                               validators=[Optional(), *bounded("availability")])
    message = TextAreaField(_l("Anything else you want to tell us"), filters=[_strip],
                            validators=[Optional(), *bounded("message", multiline=True)])
    locale = ChoiceField(_l("Language for our messages to you"),
                         choices=[SelectChoice(code, LANGUAGE_NAMES[code]) for code in LANGUAGES])
    consent = BooleanField(_l("I agree that my details are kept and used as the privacy notice "
                              "describes."))
    # The honeypot: hidden from people (and screen readers); bots fill it in.
    website = StringField(_l("Leave this field empty"))
    started = HiddenField()

    def validate_paths(self, field):
        if not field.data:
            raise ValidationError(NO_PATH)

    def validate_consent(self, field):
        if field.data is not True:
            raise ValidationError(NO_CONSENT)


class ConfirmForm(FlaskForm):
    """The confirmation button: a POST with CSRF, so a link scanner's GET confirms nothing."""
