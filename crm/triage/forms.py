"""Forms of the triage queue: filters (a GET query of ids and keys only) and actions (POST)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectChoice, SelectField, SelectMultipleField
from wtforms.validators import Optional

from ..contacts import labels
from ..contacts.labels import options


def _any():
    return [SelectChoice("", "—")]


class FilterForm(FlaskForm):
    """Read-only filters. Nothing personal: the city is the meeting's (public) city."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), validators=[Optional()],
                         choices=options([*labels.STATUSES.items(), ("any", _l("Any status"))]),
                         default="new")
    assignee = SelectField(_l("Assigned to"), validators=[Optional()], choices=[], default="unassigned")
    meeting = SelectField(_l("Meeting"), validators=[Optional()], choices=[])
    city = SelectField(_l("Meeting city"), validators=[Optional()], choices=[])
    path = SelectField(_l("Path"), validators=[Optional()], choices=[])
    stage = SelectField(_l("Stage"), validators=[Optional()],
                        choices=_any() + options(labels.STAGES.items()))
    source = SelectField(_l("Source"), validators=[Optional()],
                         choices=_any() + options(labels.SOURCES.items()))
    created_from = DateField(_l("Created from"), validators=[Optional()])
    created_to = DateField(_l("Created until"), validators=[Optional()])
    include_snoozed = BooleanField(_l("Include snoozed"))
    sort = SelectField(_l("Order"), choices=options([("oldest", _l("Oldest first")), ("newest", _l("Newest first"))]),
                       default="oldest", validators=[Optional()])


class ActionForm(FlaskForm):
    """One action on one row or on the ticked rows."""

    action = SelectField(choices=options([("assign", _l("Assign")), ("stage", _l("Set stage")),
                                          ("not_a_fit", _l("Not a fit")), ("snooze", _l("Snooze"))]))
    contact_ids = SelectMultipleField(choices=[], validate_choice=False)
    scope = HiddenField(default="bulk")
    query = HiddenField()
    page = HiddenField()
    assignee = SelectField(_l("Assign to"), choices=[], validate_choice=False, validators=[Optional()])
    path = SelectField(_l("Path"), choices=[], validate_choice=False, validators=[Optional()])
    stage = SelectField(_l("Stage"), choices=options(labels.STAGES.items()),
                        validate_choice=False, validators=[Optional()])
    reason = SelectField(_l("Reason"), choices=options(labels.REASONS.items()),
                         validate_choice=False, validators=[Optional()])
    until = DateField(_l("Snooze until"), validators=[Optional()])
