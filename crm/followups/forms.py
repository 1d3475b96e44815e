"""Forms of the follow-up pages: one action on one follow-up, a new follow-up, a rule."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Optional

from ..contacts import labels as contact_labels
from ..contacts.labels import options
from ..models.enums import FOLLOWUP_KINDS, RULE_ASSIGN_TO, RULE_STRATEGIES, STAGES
from . import labels

ACTIONS = ("complete", "reschedule", "reassign", "cancel")
# Where an action sends the browser back to (no free URL: no open redirect).
BACK = ("mine", "team", "contact")


class ActionForm(FlaskForm):
    """Complete, reschedule, reassign or cancel one follow-up."""

    action = SelectField(choices=options((a, a) for a in ACTIONS))
    outcome = TextAreaField(_l("Outcome"), validators=[Optional()])
    reason = TextAreaField(_l("Reason"), validators=[Optional()])
    due = DateField(_l("New day"), validators=[Optional()])
    assignee = SelectField(_l("Give to"), choices=[], validate_choice=False, validators=[Optional()])
    back = HiddenField(default="mine")


class CreateForm(FlaskForm):
    """A follow-up created by hand on the contact page."""

    kind = SelectField(_l("What"), choices=options((k, labels.KINDS[k]) for k in FOLLOWUP_KINDS),
                       validate_choice=False)
    due = DateField(_l("Due on"), validators=[InputRequired()])
    path = SelectField(_l("Path"), choices=[], validate_choice=False, validators=[Optional()])
    assignee = SelectField(_l("For"), choices=[], validate_choice=False, validators=[Optional()])


class RuleForm(FlaskForm):
    """A follow-up rule; the service validates (so a forged choice gets the same clear error)."""

    path = SelectField(_l("Path"), choices=[], validate_choice=False)
    stage = SelectField(_l("When the path enters the stage"),
                        choices=options((s, contact_labels.STAGES[s]) for s in STAGES), validate_choice=False)
    kind = SelectField(_l("Create a follow-up of kind"),
                       choices=options((k, labels.KINDS[k]) for k in FOLLOWUP_KINDS), validate_choice=False)
    delay_days = IntegerField(_l("Due after (days)"), validators=[Optional()])
    assign_to = SelectField(_l("For"), choices=options((k, labels.ASSIGN_TO[k]) for k in RULE_ASSIGN_TO),
                            validate_choice=False)
    assignee_id = SelectField(_l("Named person"), choices=[], validate_choice=False, validators=[Optional()])
    strategy = SelectField(_l("Sharing among the pool"),
                           choices=options((k, labels.STRATEGIES[k]) for k in RULE_STRATEGIES), validate_choice=False)
    active = BooleanField(_l("Rule is active"), default=True)


class ToggleForm(FlaskForm):
    """Deactivate or reactivate a rule."""

    active = HiddenField()


class MailAddressForm(FlaskForm):
    """Where the signed-in user's reminders and digests go."""

    email = EmailField(_l("Mail address for reminders and digests"), validators=[Optional()])
