"""Forms of the contact pages, and the helper that puts service errors next to fields."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from ..models.enums import STAGES
from ..services.contact_edit import LOCALES
from .labels import CHANNELS, options


def attach_errors(form, errors, fallback):
    """Show each service error next to its field (``fallback`` when the form has no such field)."""
    for name, message in errors.items():
        field = getattr(form, name, None) or getattr(form, fallback)
        field.errors = list(field.errors or []) + [message]


class SearchForm(FlaskForm):
    """The one search box; POSTed so that what was typed never sits in a URL or a log."""

    q = StringField(_l("Email, phone or name"))


class ContactEditForm(FlaskForm):
    """Every editable detail, plus what the user saw (version and field fingerprints)."""

    full_name = StringField(_l("Full name"))
    email = StringField(_l("Email"))
    phone = StringField(_l("Phone"))
    messenger = StringField(_l("Messenger handle (Telegram, Signal)"))
    city = StringField(_l("City of residence"))
    country = StringField(_l("Country of residence"))
    languages = StringField(_l("Languages"))
    skills = TextAreaField(_l("Skills"))
    availability = StringField(_l("Availability"))
    notes = TextAreaField(_l("Notes"))
    preferred_locale = SelectField(_l("Preferred language"), choices=options([("", "—")] + [(c, c) for c in LOCALES]),
                                   validators=[Optional()])
    version_id = IntegerField(widget=HiddenField.widget)
    seen = HiddenField()


class StageForm(FlaskForm):
    """Move one path of the contact to a stage."""

    path = HiddenField()
    stage = SelectField(_l("Stage"), choices=options((s, s) for s in STAGES))


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Add a note"))


class SafetyForm(FlaskForm):
    """The safety fields (decision 0020), plus what the user saw (version and fingerprints)."""

    safe_channel = SelectField(_l("Preferred safe channel"), choices=options([("", "—"), *CHANNELS.items()]),
                               validate_choice=False)  # the service says what is wrong, translated
    do_not_email = BooleanField(_l("Do not email"))
    do_not_text = BooleanField(_l("Do not text"))
    do_not_call = BooleanField(_l("Do not call"))
    safe_times = TextAreaField(_l("Safe times to reach"))
    relatives_at_risk = BooleanField(_l("Relatives at risk at home"))
    version_id = IntegerField(widget=HiddenField.widget)
    seen = HiddenField()


class MemberSearchForm(FlaskForm):
    """Find the active, vetted member whose vouch is being recorded."""

    q = StringField(_l("Member's name, email or phone"))
