"""Editing a contact's details without ever overwriting someone else's edit.

The edit form carries the contact's ``version_id`` and a fingerprint of every
field as it was shown. On save only the fields the user really changed are
written. If the contact changed in between (its version moved on) and any
field differs from what the user saw, nothing is saved: ``EditConflict`` lists
those fields with their current values so the page can say "changed by someone
else, here is what changed" and let the user decide. Changes elsewhere (a stage
moved, an assignment) bump the version too but touch no field, so they do not
block an edit. A race between two saves in the same instant is caught by
SQLAlchemy's version check at flush (``StaleDataError``), which the caller turns
into the same conflict after rolling back.
"""
import hashlib
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from ..errors import ServiceError
from ..extensions import db
from ..models.base import utcnow
from ..security import audit, normalize, permissions
from .contacts import ENCRYPTED_FIELDS, ContactData, ValidationError, validate

EDITABLE = ENCRYPTED_FIELDS
LOCALES = ("be", "ru", "uk", "pl", "en", "lt")


class EditConflict(ServiceError):
    """The contact changed since the user loaded it; ``changes`` maps field -> current value."""

    def __init__(self, changes, version_id):
        super().__init__("this contact was changed by someone else: " + ", ".join(sorted(changes)))
        self.changes = changes
        self.version_id = version_id


@dataclass(frozen=True)
class Snapshot:
    """What the user saw: the version and a fingerprint per field."""

    version_id: int
    fingerprints: dict


def _text(value):
    if value is None:
        return ""
    return str(value).strip()


def fingerprint(contact, name, value):
    """A short digest of one field's value, salted with the contact and field."""
    payload = f"{contact.id}|{name}|{_text(value)}".encode()
    return hashlib.sha256(payload).hexdigest()[:24]


def current_values(contact):
    values = {name: getattr(contact, name) for name in EDITABLE}
    values["preferred_locale"] = contact.preferred_locale
    return values


def snapshot(contact):
    """The fingerprints to put in the edit form."""
    return Snapshot(contact.version_id,
                    {name: fingerprint(contact, name, v) for name, v in current_values(contact).items()})


def changed_since(contact, seen):
    """Fields whose current value differs from what ``seen`` recorded: name -> current value."""
    return {name: value for name, value in current_values(contact).items()
            if seen.fingerprints.get(name) != fingerprint(contact, name, value)}


def update_contact(contact, values, seen, user, phone_region):
    """Write the fields of ``values`` the user changed; return their names.

    Raises ValidationError for bad input and EditConflict when someone else
    changed a field since ``seen`` was taken.
    """
    if not permissions.can(user, "contacts.edit", contact):
        raise ServiceError(_l("you may not edit this contact"))
    values = {name: _text(values.get(name)) or None for name in (*EDITABLE, "preferred_locale")}
    data = ContactData(**{name: values[name] for name in EDITABLE}, source=contact.source)
    errors = validate(data, phone_region)
    if values["preferred_locale"] and values["preferred_locale"] not in LOCALES:
        errors["preferred_locale"] = f"choose one of {', '.join(LOCALES)}"
    if errors:
        raise ValidationError(errors)
    if contact.version_id != seen.version_id:
        theirs = changed_since(contact, seen)
        if theirs:
            raise EditConflict(theirs, contact.version_id)
    mine = [name for name, value in values.items()
            if seen.fingerprints.get(name) != fingerprint(contact, name, value)
            and _text(value) != _text(getattr(contact, name) if name != "preferred_locale"
                                      else contact.preferred_locale)]
    if "phone" in mine and values["phone"]:
        values["phone"] = normalize.normalize_phone(values["phone"], phone_region)
    for name in mine:
        if name == "preferred_locale":
            contact.preferred_locale = values[name]
        else:
            setattr(contact, name, values[name])
    if mine:
        contact.updated_at = utcnow()
        db.session.flush()
        audit.record("contact.update", "contact", contact.id, fields=sorted(mine))
    return sorted(mine)
