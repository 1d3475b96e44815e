"""One sheet record -> ContactData, its normalised keys and its fingerprint.

A record that cannot become a contact gets a reason that names the column and
the rule, never the value (reasons are stored and shown in the rejects file).
"""
import functools
from dataclasses import dataclass, field, fields, replace

from ..models.enums import RESTRICTED_PATHS
from ..security import normalize
from ..security.crypto import crypto
from ..security.keyed_hash import KeyedSha256
from ..security.keyring import derive_key
from . import contacts as contact_service
from .contacts import ContactData
from .import_reader import UnknownPath, parse_paths, split_phones

TEXT_FIELDS = ("email", "messenger", "city", "country", "notes", "skills", "languages")


@dataclass
class ParsedRow:
    """A record of the sheet, ready to match and create (``reason`` set when rejected)."""

    record: int
    data: ContactData | None = None
    reason: str | None = None
    email: str | None = None
    phones: tuple = ()
    fingerprint: str | None = None
    rows: object = None  # contacts.ContactRows, sealed ahead (import_prepare)
    tokens: dict = field(default_factory=dict)  # blind-index tokens to match by (import_prepare)

    def __reduce__(self):  # handed between processes by the thousand: positional (decision 0031)
        return ParsedRow, tuple(getattr(self, name) for name in _PARSED_ROW_FIELDS)

    @property
    def matches_by_name(self):
        """Name + city decides only for a row with neither email nor phone: a row that has
        one and matches nobody by it is a namesake more often than the same person."""
        return bool(self.data is not None and self.data.city and not self.email and not self.phones)


_PARSED_ROW_FIELDS = tuple(f.name for f in fields(ParsedRow))


def _cell(cells, index):
    return cells[index].strip() if index < len(cells) else ""


def _values(cells, mapping):
    values = {}
    for index, name in mapping.items():
        value = _cell(cells, int(index))
        if value:
            values[name] = value
    return values


def _full_name(values):
    if values.get("full_name"):
        return values["full_name"]
    return " ".join(v for v in (values.get("first_name"), values.get("last_name")) if v)


def parse_row(record, cells, mapping, region, cleared):
    """A ParsedRow for one record; never raises for bad content."""
    values = _values(cells, mapping)
    try:
        paths = parse_paths(values.get("paths"))
    except UnknownPath:
        return ParsedRow(record, reason="paths: a path word was not recognised")
    if not cleared and RESTRICTED_PATHS.intersection(paths):
        return ParsedRow(record, reason="paths: a restricted path needs clearance to import")
    phones, notes = [], values.get("notes")
    for raw in split_phones(values.get("phone")):
        number = normalize.normalize_phone(raw, region)
        if number is None:
            return ParsedRow(record, reason="phone: is not a valid phone number")
        if number not in phones:
            phones.append(number)
            normalize.remember_e164(number, region, crypto().phone_region)
    if len(phones) > 1:
        extra = "Other phones: " + ", ".join(phones[1:])
        notes = f"{notes}\n{extra}" if notes else extra
    data = ContactData(
        full_name=_full_name(values), phone=phones[0] if phones else None,
        **{name: values.get(name) for name in TEXT_FIELDS if name != "notes"},
        notes=notes, source="import", paths=paths,
    )
    errors = contact_service.validate(data, region)
    if errors:
        name, message = next(iter(errors.items()))
        return ParsedRow(record, reason=f"{name}: {message}")
    email = normalize.normalize_email(data.email) if data.email else None
    return ParsedRow(record, data=data, email=email, phones=tuple(phones),
                     fingerprint=fingerprint(data, email, phones))


def fingerprint(data, email, phones):
    """Keyed MAC of the row's normalised values (128 bits, hex): the same row, whatever file."""
    parts = [" ".join(w.casefold() for w in normalize.name_words(data.full_name)), email or "", ",".join(phones),
             data.messenger or "", data.city or "", data.country or "", ",".join(data.paths)]
    return _fingerprint_mac(crypto().keyring.active.idx_root).hexdigest("\x1f".join(parts).encode())[:32]


@functools.lru_cache(maxsize=4)
def _fingerprint_mac(idx_root):
    return KeyedSha256(derive_key(idx_root, "muster:import:row:v1"))


def _word_sets(text):
    return [normalize.name_word_variants(w) for w in normalize.name_words(text or "")]


def same_words(a, b):
    """Every word of ``a`` matches a word of ``b`` and back (case, diacritics, Cyrillic/Latin)."""
    words_a, words_b = _word_sets(a), _word_sets(b)
    if not words_a or len(words_a) != len(words_b):
        return False
    return all(any(wa & wb for wb in words_b) for wa in words_a) and \
        all(any(wb & wa for wa in words_a) for wb in words_b)


def merge_into(pending, other):
    """``pending`` (not yet created) with blanks filled and paths added from ``other``."""
    changes = {name: getattr(other, name) for name in ("email", "phone", "messenger", "city", "country",
                                                       "skills", "languages")
               if getattr(other, name) and not getattr(pending, name)}
    paths = tuple(dict.fromkeys(pending.paths + other.paths))
    return replace(pending, paths=paths, **changes)
