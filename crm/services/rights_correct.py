"""A person correcting their own details (GDPR art. 16), with the contacts service's rules.

Only the person's own fields are offered (never staff notes). Values are checked
by ``contacts.validate``; the form carries the contact's version and a
fingerprint of each field as shown (``contact_edit.fingerprint``), so an edit
made by staff in between is never silently overwritten: the person sees the
current values and saves again. Every change is audited with the field names only.
"""
from dataclasses import replace

from ..extensions import db
from ..i18n import LANGUAGES
from ..models.base import utcnow
from ..security import audit, normalize
from ..security.fields import UNREADABLE
from .contact_edit import Snapshot, fingerprint
from .contacts import ContactData, ValidationError, validate

CORRECTABLE = ("full_name", "email", "phone", "messenger", "city", "country", "languages", "skills",
               "availability")
FIELDS = (*CORRECTABLE, "preferred_locale")


class Conflict(Exception):
    """The record changed since the person loaded the form; they must look again."""


def _plain(value):
    if value is None or value is UNREADABLE:
        return ""
    return str(value).strip()


def current_values(contact):
    values = {name: _plain(getattr(contact, name)) for name in CORRECTABLE}
    values["preferred_locale"] = contact.preferred_locale or ""
    return values


def snapshot(contact):
    return Snapshot(contact.version_id, {name: fingerprint(contact, name, value)
                                         for name, value in current_values(contact).items()})


def correct(contact, values, seen, phone_region):
    """Write the fields the person changed; return their names (empty when none).

    Raises ValidationError (field -> message) for values that cannot be stored and
    Conflict when any of these fields changed since ``seen``.
    """
    values = {name: _plain(values.get(name)) for name in FIELDS}
    current = current_values(contact)
    data = ContactData(**{name: current[name] or None for name in CORRECTABLE}, source=contact.source)
    data = replace(data, **{name: values[name] or None for name in CORRECTABLE})
    errors = validate(data, phone_region)
    if values["preferred_locale"] and values["preferred_locale"] not in LANGUAGES:
        errors["preferred_locale"] = "unknown language"
    if errors:
        raise ValidationError(errors)
    if contact.version_id != seen.version_id and any(
            seen.fingerprints.get(name) != fingerprint(contact, name, current[name]) for name in FIELDS):
        raise Conflict()
    changed = [name for name in FIELDS if values[name] != current[name]]
    for name in changed:
        value = values[name] or None
        if name == "preferred_locale":
            contact.preferred_locale = value
            continue
        if name == "phone" and value:
            value = normalize.normalize_phone(value, phone_region)
        setattr(contact, name, value)
    if changed:
        contact.updated_at = utcnow()
        db.session.flush()
        audit.record("contact.update", "contact", contact.id, fields=sorted(changed), by="data_subject")
    return changed
