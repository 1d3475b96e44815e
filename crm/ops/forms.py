"""Forms of the operations pages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ..i18n import LANGUAGE_NAMES, LANGUAGES


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""


class TestMailForm(FlaskForm):
    address = StringField(_l("Send a test message to"), validators=[
        DataRequired(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an email address.")),
    ])
    locale = SelectField(_l("Language"), choices=[SelectChoice(code, LANGUAGE_NAMES[code]) for code in LANGUAGES])


class TemplateForm(FlaskForm):
    """An edit of one template in one language; an empty part keeps the default file's wording."""

    subject = StringField(_l("Subject"), validators=[Optional(), Length(max=255)])
    text = TextAreaField(_l("Plain text"), validators=[Optional(), Length(max=20000)])
    html = TextAreaField(_l("HTML"), validators=[Optional(), Length(max=50000)])
    preview = SubmitField(_l("Preview"))
    save = SubmitField(_l("Save as a new version"))
