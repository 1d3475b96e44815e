"""The reports page's filters: read-only, nothing personal (a meeting's city is public)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import Optional

from ..contacts.labels import options

WEEK_CHOICES = (4, 12, 26, 52)


class ReportFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET that changes nothing

    city = SelectField(_l("Meeting city"), validators=[Optional()], choices=[])
    weeks = SelectField(_l("Weeks"), validators=[Optional()], default="12",
                        choices=options((str(n), str(n)) for n in WEEK_CHOICES))
