"""Forms of the approvals: a request (with its reason) and a decision (with its reason)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, TextAreaField

from ..contacts.labels import STAGES, options
from ..services.contacts import GATED_STAGES


class RequestForm(FlaskForm):
    """Ask a second cleared coordinator: a restricted path to a stage, or vetting."""

    kind = HiddenField()
    path = HiddenField()
    to_stage = SelectField(_l("Move to stage"), choices=options((s, STAGES[s]) for s in STAGES if s in GATED_STAGES),
                           validate_choice=False)
    reason = TextAreaField(_l("Reason (seen by the coordinator who decides)"))


class DecisionForm(FlaskForm):
    """Approve, reject or cancel one request (its id is in the URL); a reason is required."""

    reason = TextAreaField(_l("Reason"))
