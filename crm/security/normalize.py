"""Normalisation of searchable values before they are blind-indexed.

Emails: trimmed, lower-cased, domain in IDNA ASCII form.
Phones: E.164 via ``phonenumbers`` with a configurable default region.
Names: split into words, case- and diacritic-folded; a Cyrillic word also yields
its Latin transliterations (Belarusian, Russian and Ukrainian passport-style
rules), so ``Аляксандр`` and ``Aliaksandr`` share an index token. The rules and
their limits are documented in docs/decisions/0004-name-transliteration.md.
"""
import contextlib
import contextvars
import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

MAX_NAME_WORDS = 12

# Letters that Unicode decomposition does not fold to ASCII.
_LATIN_SPECIAL = str.maketrans({
    "ł": "l", "đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th",
    "ı": "i", "ħ": "h", "ŧ": "t",
})

_VOWELS = set("аеёиоуыэюяіїєў")
_SIGNS = set("ьъ'’ʼ")
# Letters spelt the same way in every scheme we generate.
_COMMON = {
    "а": "a", "б": "b", "в": "v", "ґ": "g", "д": "d", "ж": "zh", "з": "z",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ы": "y", "э": "e", "і": "i", "ў": "u",
    "ь": "", "ъ": "", "'": "", "’": "", "ʼ": "",
}
# Iotated vowels: (after a consonant, at the start of a word or after a vowel/sign).
_IOTATED = {"я": ("ia", "ya"), "ю": ("iu", "yu"), "ё": ("io", "yo"), "є": ("ie", "ye")}
_SCHEMES = {
    # Belarusian national passport rules: Аляксандр -> Aliaksandr.
    "be": {"г": "h", "и": "i", "е": ("e", "ye"), "ї": "i"},
    # Russian passport (ICAO 9303): Александр -> Aleksandr.
    "ru": {"г": "g", "и": "i", "е": ("e", "e"), "ї": "i"},
    # Ukrainian national rules (2010): Григорій -> Hryhorii.
    "uk": {"г": "h", "и": "y", "е": ("e", "e"), "ї": ("i", "yi")},
}
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*", re.UNICODE)


def fold_latin(word):
    """Case-fold and strip diacritics: ``Łukasz`` -> ``lukasz``."""
    word = word.casefold().translate(_LATIN_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", word)
    # Compatibility forms (e.g. mathematical capitals) only become lower-case letters
    # after NFKD, so fold the case once more.
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _fold_cyrillic(word):
    # Keep й and ё distinct from и and е: NFKD would split them.
    return word.casefold().replace("\u0451", "е").replace("'", "’")


def transliterate(word, scheme):
    """Latin spelling of a lower-case Cyrillic ``word`` under one scheme."""
    rules = _SCHEMES[scheme]
    out = []
    previous = None
    for ch in word:
        after_consonant = previous is not None and previous not in _VOWELS and previous not in _SIGNS
        rule = rules.get(ch) or _IOTATED.get(ch) or _COMMON.get(ch)
        if rule is None:
            out.append(fold_latin(ch))
        elif isinstance(rule, tuple):
            out.append(rule[0] if after_consonant else rule[1])
        else:
            out.append(rule)
        previous = ch
    return "".join(out)


def name_word_variants(word):
    """Every spelling of one name word that gets its own index token."""
    if _CYRILLIC.search(word):
        lowered = word.casefold()
        variants = {_fold_cyrillic(word)}
        variants.update(transliterate(lowered, scheme) for scheme in _SCHEMES)
        return {v for v in variants if v}
    folded = fold_latin(word)
    return {folded} if folded else set()


def name_words(full_name):
    """The words of a name, at most MAX_NAME_WORDS, in order, without repeats."""
    seen = []
    for word in _WORD.findall(unicodedata.normalize("NFC", full_name or "")):
        if len(word) >= 2 and word.casefold() not in (w.casefold() for w in seen):
            seen.append(word)
        if len(seen) >= MAX_NAME_WORDS:
            break
    return seen


def name_tokens(full_name):
    """All folded variants of all words of a name (what the name index holds)."""
    tokens = set()
    for word in name_words(full_name):
        tokens |= name_word_variants(word)
    return tokens


_MEMO = contextvars.ContextVar("muster_normalize_memo", default=None)


@contextlib.contextmanager
def remembered():
    """Inside the block each email and phone is parsed once (validation, lookups, indexes).

    The memo holds personal data, so it lives in a context variable for the block
    only: never shared between threads or requests, and dropped on exit.
    """
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def remember_e164(number, *regions):
    """Inside ``remembered()``: ``number``, already E.164, normalises to itself in ``regions``.

    An import normalises the typed phone once and hands on the E.164 form; validation
    and indexing then find it here instead of parsing it again for each region.
    """
    memo = _MEMO.get()
    if memo is not None and number and number.startswith("+"):
        for region in regions:
            memo.setdefault((_normalize_phone, number, region), number)


def _once(func, *args):
    memo = _MEMO.get()
    if memo is None:
        return func(*args)
    key = (func, *args)
    if key not in memo:
        memo[key] = func(*args)
    return memo[key]


def normalize_email(raw):
    """Canonical email for indexing and comparison, or None if it is not an email."""
    if not raw:
        return None
    return _once(_normalize_email, raw)


# A plain ASCII address: a dot-atom local part and a domain of LDH labels whose last ends
# in a letter. email_validator accepts every such address (unless a check below fails) and
# returns it unchanged but for the domain's case (decision 0028): so the fast path yields
# exactly its normal form, and anything else still goes through email_validator.
_ATEXT = r"[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_EMAIL = re.compile(rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@((?:{_LABEL}\.)+{_LABEL})")
# email_validator refuses these domains and their subdomains (its SPECIAL_USE_DOMAIN_NAMES).
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")


def _plain_email(value):
    """The normal form of a plain ASCII address email_validator accepts, else None (ask it)."""
    if len(value) > 254:
        return None
    match = _PLAIN_EMAIL.fullmatch(value)
    if match is None:
        return None
    local, domain = match.groups()
    domain = domain.lower()
    # A label with "--" in it (Punycode, or reserved "ab--"), a numeric top-level domain, an
    # overlong domain or a special-use name: email_validator decides (and mostly refuses).
    if "--" in domain or not domain[-1].isalpha() or len(domain) > 253:
        return None
    if any(domain == name or domain.endswith("." + name) for name in _SPECIAL_USE):
        return None
    return f"{local.casefold()}@{domain}"


def _normalize_email(raw):
    value = raw.strip()
    plain = _plain_email(value)
    if plain is not None:
        return plain
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return None
    domain = result.ascii_domain or result.domain
    return f"{result.local_part.casefold()}@{domain.lower()}"


def normalize_phone(raw, region="PL"):
    """E.164 form of a phone number, or None if it cannot be a valid number."""
    if not raw:
        return None
    return _once(_normalize_phone, raw, region)


def _normalize_phone(raw, region):
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_messenger(raw):
    """Messenger handle: trimmed, case-folded, without a leading @."""
    if not raw:
        return None
    value = raw.strip().lstrip("@").casefold()
    return value or None
