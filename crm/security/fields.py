"""The one way models reach the cipher: the ``Encrypted`` attribute.

A model declares a ciphertext column ``<name>_ct`` and ``<name> = Encrypted()``;
code reads and writes ``obj.<name>`` as plain text while the database only ever
receives the ciphertext, bound to the table, the column and ``obj.id``.
"""
import uuid

from markupsafe import Markup
from sqlalchemy import LargeBinary, event
from sqlalchemy.orm import Session, mapped_column, object_session

from .cipher import DecryptionError
from .crypto import crypto

_CACHE = "_muster_plain"


class UnreadableValue:
    """Stands in for a value that failed to decrypt: shown, never as ciphertext."""

    def __str__(self):
        return "[unreadable]"

    def __html__(self):
        return Markup('<span class="unreadable" title="This value could not be decrypted">[unreadable]</span>')

    def __repr__(self):
        return "UNREADABLE"


UNREADABLE = UnreadableValue()


def ciphertext_column(**kwargs):
    """A nullable binary column that holds one encrypted value."""
    return mapped_column(LargeBinary, nullable=True, **kwargs)


class Encrypted:
    """Descriptor mapping a plain-text attribute onto its ``<name>_ct`` column.

    ``index`` names a blind index spec; on write the model's ``reindex(spec, value)``
    is called so the index rows always follow the value. ``seal`` gives the same
    ciphertext for a row built without an instance (bulk inserts).
    """

    def __init__(self, index=None):
        self.index = index

    def __set_name__(self, owner, name):
        self.owner = owner
        self.name = name
        self.column_attr = f"{name}_ct"

    def _table(self, obj):
        return type(obj).__tablename__

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        blob = getattr(obj, self.column_attr)
        if blob is None:
            return None
        cache = obj.__dict__.setdefault(_CACHE, {})
        cached = cache.get(self.name)
        if cached is not None and cached[0] is blob:
            return cached[1]
        try:
            plain = crypto().cipher.decrypt(self._table(obj), self.name, obj.id, blob)
        except DecryptionError as exc:
            _note_unreadable(obj, self.name, str(exc))
            plain = UNREADABLE
        cache[self.name] = (blob, plain)
        return plain

    def clean(self, value):
        """The value as stored: text, trimmed, empty meaning None."""
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{self.name} takes text, not {type(value).__name__}")
        if value is not None:
            value = value.strip() or None
        return value

    def seal(self, row_id, value):
        """Ciphertext of an already ``clean`` value for this column of row ``row_id``."""
        if value is None:
            return None
        return crypto().cipher.encrypt(self.owner.__tablename__, self.name, row_id, value)

    def __set__(self, obj, value):
        value = self.clean(value)
        if obj.id is None:
            obj.id = uuid.uuid4()
        blob = None if value is None else crypto().cipher.encrypt(self._table(obj), self.name, obj.id, value)
        setattr(obj, self.column_attr, blob)
        obj.__dict__.setdefault(_CACHE, {})[self.name] = (blob, value)
        if self.index is not None:
            obj.reindex(self.index, value)


def encrypted_fields(model):
    """Names of the Encrypted attributes of a model class."""
    return [name for name in dir(model) if isinstance(getattr(model, name, None), Encrypted)]


def _note_unreadable(obj, field, reason):
    session = object_session(obj)
    if session is not None:
        session.info.setdefault("unreadable", []).append(
            (type(obj).__tablename__, str(obj.id), field, reason)
        )


@event.listens_for(Session, "before_commit")
def _audit_unreadable(session):
    """Every value met that would not decrypt leaves an audit event."""
    failures = session.info.pop("unreadable", None)
    if not failures:
        return
    from . import audit  # audit imports the models, which import this module

    for table, row_id, field, reason in failures:
        audit.record("crypto.unreadable", table, row_id, field=field, reason=reason, session=session)
