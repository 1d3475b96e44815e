"""Forms of the export pages: what to export (filters, columns, format, reason), decisions, tracing."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from ..contacts.labels import options
from ..triage.forms import FilterForm

COLUMN_LABELS = {
    "full_name": _l("Full name"), "email": _l("Email"), "phone": _l("Phone"),
    "messenger": _l("Messenger handle"), "city": _l("City of residence"), "country": _l("Country of residence"),
    "languages": _l("Languages"), "skills": _l("Skills"), "notes": _l("Notes"), "paths": _l("Paths and stages"),
    "status": _l("Status"), "source": _l("Source"), "created": _l("Recorded on"), "meetings": _l("Meetings attended"),
}


class ExportForm(FilterForm):
    """The triage filters, plus the columns, the format and (for a large list) the reason."""

    class Meta:
        csrf = True

    columns = SelectMultipleField(_l("Columns"), choices=options(COLUMN_LABELS.items()),
                                  widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    format = RadioField(_l("Format"), choices=options([("csv", "CSV"), ("xlsx", "XLSX (Excel)")]), default="csv")
    reason = TextAreaField(_l("Why is this export needed, and for whom?"))


class DecisionForm(FlaskForm):
    """Approve, refuse or download one export (the id is in the URL)."""


class TraceForm(FlaskForm):
    """A file that may have leaked, or an email address / phone number seen somewhere."""

    file = FileField(_l("A CSV or XLSX file"))
    value = StringField(_l("Or an email address or phone number"))
