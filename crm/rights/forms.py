"""Forms of the data-rights pages; every message is translated (the ``rights`` domain)."""
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..i18n import LANGUAGES
from ..security import normalize
from ..security.crypto import crypto
from ..services.contacts import MAX_LENGTHS, MULTILINE_FIELDS, _has_control_chars

LANGUAGE_NAMES = {"en": "English", "be": "Беларуская", "ru": "Русский", "uk": "Українська", "pl": "Polski"}


def _text_only(form, field):
    value = field.data
    if value and _has_control_chars(value, multiline=field.name in MULTILINE_FIELDS):
        raise ValidationError(_l("Remove the invisible or control characters from this field."))


def _length(name):
    limit = MAX_LENGTHS[name]
    return Length(max=limit, message=lazy_ngettext("At most %(num)d character.", "At most %(num)d characters.", limit))


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class AskForm(FlaskForm):
    """The one field of the public page: the address we may hold."""

    email = StringField(_l("Your email address"), filters=[_strip],
                        validators=[InputRequired(message=_l("Enter your email address.")),
                                    _length("email"), _text_only])

    def validate_email(self, field):
        if normalize.normalize_email(field.data or "") is None:
            raise ValidationError(_l("Enter an email address like name@example.org."))


class OpenLinkForm(FlaskForm):
    """The button that spends the link (a POST, so a mail scanner's GET spends nothing)."""


class ExportForm(FlaskForm):
    format = SelectField(choices=[SelectChoice("json", "JSON"), SelectChoice("html", "HTML")])


class CorrectForm(FlaskForm):
    """The person's own details; notes written by staff are not theirs to edit here."""

    full_name = StringField(_l("Full name"), filters=[_strip],
                            validators=[InputRequired(message=_l("Enter your name.")),
                                        _length("full_name"), _text_only])
    email = StringField(_l("Email address"), filters=[_strip],
                        validators=[Optional(), _length("email"), _text_only])
    phone = StringField(_l("Phone number"), filters=[_strip],
                        validators=[Optional(), _length("phone"), _text_only])
    messenger = StringField(_l("Telegram or Signal handle"), filters=[_strip],
                            validators=[Optional(), _length("messenger"), _text_only])
    city = StringField(_l("City of residence"), filters=[_strip],
                       validators=[Optional(), _length("city"), _text_only])
    country = StringField(_l("Country of residence"), filters=[_strip],
                          validators=[Optional(), _length("country"), _text_only])
    languages = StringField(_l("Languages you speak"), filters=[_strip],
                            validators=[Optional(), _length("languages"), _text_only])
    skills = TextAreaField(_l("Skills"), filters=[_strip],
                           validators=[Optional(), _length("skills"), _text_only])
    availability = StringField(_l("When are you available?"), filters=[_strip],
                               validators=[Optional(), _length("availability"), _text_only])
    preferred_locale = SelectField(_l("Language for messages to you"),
                                   choices=[SelectChoice("", "—")] + [SelectChoice(code, LANGUAGE_NAMES[code])
                                                                   for code in LANGUAGES],
                                   validate_choice=False)
    version_id = HiddenField()
    seen = HiddenField()

    def validate_preferred_locale(self, field):
        if field.data and field.data not in LANGUAGES:
            raise ValidationError(_l("Choose one of the languages in the list."))

    def validate_email(self, field):
        if field.data and normalize.normalize_email(field.data) is None:
            raise ValidationError(_l("Enter an email address like name@example.org."))

    def validate_phone(self, field):
        if field.data and normalize.normalize_phone(field.data, crypto().phone_region) is None:
            raise ValidationError(_l("Enter a phone number with its country code, like +48 600 100 200."))


class EraseForm(FlaskForm):
    confirm = BooleanField(_l("I understand that everything you hold about me will be deleted and "
                              "cannot be restored."),
                           validators=[DataRequired(message=_l("Tick the box to confirm."))])


class AdminEraseForm(FlaskForm):
    """An erasure request received by other means (letter, phone call), done by an admin."""

    confirm = BooleanField(_l("The person asked for erasure; delete everything about them."),
                           validators=[DataRequired(message=_l("Tick the box to confirm."))])
