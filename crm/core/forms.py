"""Forms of the core pages (Flask-WTF, CSRF on every one)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice, SelectField
from wtforms.validators import InputRequired, Length

from ..i18n import LANGUAGE_NAMES, LANGUAGES


class LanguageForm(FlaskForm):
    """The language switcher of the layout: the choice goes into the ``lang`` cookie."""

    lang = SelectField(_l("Language"), choices=[SelectChoice(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
                       validators=[InputRequired()])
    next = HiddenField(validators=[Length(max=512)])
