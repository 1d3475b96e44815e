"""The one search box: email, phone in any common format, or name words.

Everything goes through the blind indexes (crm/services/lookup.py): no plaintext
column exists and nothing decrypts the whole table. A phone typed in national
format is tried in each region of SEARCH_PHONE_REGIONS (``8029…`` is only valid
in Belarus, ``600 000 000`` only in Poland), and every valid reading is looked up.
"""
import re
from dataclasses import dataclass, field

from ..security import normalize
from . import lookup

PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]{6,}$")
DEFAULT_PHONE_REGIONS = ("PL", "BY", "LT", "UA", "CZ", "DE")
MAX_QUERY = 200


@dataclass
class SearchResult:
    kind: str  # "email", "phone", "name" or "empty"
    contacts: list = field(default_factory=list)


def classify(query):
    """What the query looks like: 'email', 'phone', 'name' or 'empty'."""
    query = (query or "").strip()
    if not query:
        return "empty"
    if "@" in query:
        return "email"
    if PHONE_LIKE.match(query) and sum(ch.isdigit() for ch in query) >= 6:
        return "phone"
    return "name" if normalize.name_words(query) else "empty"


def phone_readings(query, regions):
    """Every valid E.164 reading of a typed phone number across ``regions``."""
    readings = []
    for region in regions:
        e164 = normalize.normalize_phone(query, region)
        if e164 and e164 not in readings:
            readings.append(e164)
    return readings


def search(query, regions=DEFAULT_PHONE_REGIONS, visible_to=None, name_limit=500):
    """Contacts matching ``query``; the caller applies the viewer's permissions.

    A name search stops at the newest ``name_limit`` matches that ``visible_to``
    (when given) may see: a common surname is not decrypted namesake by namesake.
    """
    query = (query or "").strip()[:MAX_QUERY]
    kind = classify(query)
    if kind == "email":
        return SearchResult(kind, lookup.find_by_email(query))
    if kind == "phone":
        found = {}
        for e164 in phone_readings(query, regions):
            for contact in lookup.find_by_phone(e164):
                found.setdefault(contact.id, contact)
        return SearchResult(kind, sorted(found.values(), key=lookup.created_order))
    if kind == "name":
        return SearchResult(kind, lookup.find_by_name(query, limit=name_limit, visible_to=visible_to))
    return SearchResult("empty")
