"""Forms of the signal pages: decide on a flag, block a contact."""
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from flask_wtf import FlaskForm

from ..contacts.labels import options
from ..services.signals import NOTE_MAX


class DecideForm(FlaskForm):
    """Clear (a false alarm) or confirm (hostile) one flag, with a note kept encrypted."""

    outcome = RadioField(_l("Decision"), choices=options([("clear", _l("Clear: a false alarm")),
                                                          ("confirm", _l("Confirm: hostile"))]),
                         validators=[DataRequired(_l("Choose whether to clear or confirm the flag."))])
    note = TextAreaField(_l("Note"), validators=[
        DataRequired(_l("Write a note: why this flag is cleared or confirmed.")),
        Length(max=NOTE_MAX, message=_l("The note is too long (at most %(num)d characters).", num=NOTE_MAX))])
    back = HiddenField()


class BlockForm(FlaskForm):
    """Block a contact: their details' tokens go on the blocklist."""

    category = SelectField(_l("Reason"), choices=options([("infiltration", _l("Suspected infiltration")),
                                                         ("abuse", _l("Abuse or threats")),
                                                         ("other", _l("Other"))]))
    note = TextAreaField(_l("Note"), validators=[
        DataRequired(_l("Write a note: why this contact is blocked.")),
        Length(max=NOTE_MAX, message=_l("The note is too long (at most %(num)d characters).", num=NOTE_MAX))])
