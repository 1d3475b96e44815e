"""Forms of the duplicate pages: dismiss a pair, merge two contacts, undo a merge."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField

from ..contacts.labels import options
from ..services.merge import MERGE_FIELDS


class DismissForm(FlaskForm):
    """"Not the same person": the two ids and where the list was."""

    first = HiddenField()
    second = HiddenField()
    cursor = HiddenField()


class UndoForm(FlaskForm):
    """Undo one merge (the id is in the URL)."""


class MergeForm(FlaskForm):
    """Whose value to keep, field by field, and the versions both contacts had when shown."""

    survivor_version = IntegerField(widget=HiddenField.widget)
    merged_version = IntegerField(widget=HiddenField.widget)


for _name in MERGE_FIELDS:
    setattr(MergeForm, _name, RadioField(choices=options([("survivor", _l("Keep this")), ("merged", _l("Take the other"))]),
                                         default="survivor"))
