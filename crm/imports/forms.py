"""Forms of the import wizard."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectChoice, SelectField, StringField

ENCODINGS = [SelectChoice("auto", _l("Detect")), SelectChoice("utf-8", "UTF-8"), SelectChoice("utf-16", "UTF-16"),
             SelectChoice("cp1251", "Windows-1251 (Cyrillic)"),
             SelectChoice("cp1250", "Windows-1250 (Central European)")]


class UploadForm(FlaskForm):
    sheet = FileField(_l("Sign-up sheet (CSV or XLSX)"))
    encoding = SelectField(_l("Text encoding"), choices=ENCODINGS, default="auto")


class MappingForm(FlaskForm):
    """One select per column (``col_<n>``) is added at runtime by ``mapping_form``."""

    has_header = BooleanField(_l("The first row is a header"))
    region = StringField(_l("Phone region for numbers without +country (PL, BY, LT…)"))
    meeting_id = SelectField(_l("Meeting"), choices=[], validate_choice=False)


def mapping_form(columns, field_choices, meeting_choices, **kwargs):
    """A MappingForm class with ``columns`` select fields, instantiated."""

    class Form(MappingForm):
        pass

    for index in range(columns):
        setattr(Form, f"col_{index}", SelectField(choices=field_choices, validate_choice=False, default=""))
    form = Form(**kwargs)
    form.meeting_id.choices = meeting_choices
    return form
