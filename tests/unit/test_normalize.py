"""Normalisers: what gets blind-indexed must be the same for every way a person writes it."""
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crm.security import normalize
from crm.security.normalize import (
    fold_latin,
    name_tokens,
    name_words,
    normalize_email,
    normalize_messenger,
    normalize_phone,
)

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("raw, expected", [
    ("ala@example.org", "ala@example.org"),
    ("  A.Test@Example.ORG \t", "a.test@example.org"),
    ("ALA@EXAMPLE.ORG", "ala@example.org"),
    ("user@Bücher.example", "user@xn--bcher-kva.example"),
    ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
])
def test_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "plain", "user@", "@example.org", "user@nodot",
                                 "a@b@example.org", "user name@example.org", "user@exa mple.org"])
def test_invalid_email_is_none(raw):
    assert normalize_email(raw) is None


@pytest.mark.parametrize("raw, region, expected", [
    ("+375 29 123-45-67", "PL", "+375291234567"),
    ("+375291234567", "BY", "+375291234567"),
    ("8029 123 45 67", "BY", "+375291234567"),
    ("8 (029) 123-45-67", "BY", "+375291234567"),
    ("+48 600 000 000", "PL", "+48600000000"),
    ("0048 600 000 000", "PL", "+48600000000"),
    ("600 000 000", "PL", "+48600000000"),
    ("+370 612 34567", "PL", "+37061234567"),
])
def test_phone(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", [None, "", "call me maybe", "abcdefghi", "+48 ABC DEF GHI", "123",
                                 "+48 600", "600 000 000 000 000 000"])
def test_invalid_phone_is_none(raw):
    assert normalize_phone(raw, "PL") is None


def test_phone_region_decides_a_national_number():
    assert normalize_phone("600 000 000", "PL") == "+48600000000"
    assert normalize_phone("8029 123 45 67", "PL") is None


def test_messenger():
    assert normalize_messenger("  @Ala_Kot ") == "ala_kot"
    assert normalize_messenger("@") is None
    assert normalize_messenger(None) is None


def test_latin_folding():
    assert fold_latin("Łukasz") == fold_latin("lukasz") == "lukasz"
    assert fold_latin("Wiśniewska") == "wisniewska"
    assert fold_latin("Žukauskienė") == "zukauskiene"
    assert fold_latin("STRAßE") == "strasse"
    assert name_tokens("Łukasz") == name_tokens("LUKASZ") == {"lukasz"}


@pytest.mark.parametrize("cyrillic, latin", [
    ("Аляксандр", "Aliaksandr"),
    ("Ціханоўская", "Tsikhanouskaya"),
    ("Ціханоўскі", "Tsikhanouski"),
    ("Сяргей", "Siarhei"),
    ("Святлана", "Sviatlana"),
    ("Александр", "Aleksandr"),
    ("Григорій", "Hryhorii"),
])
def test_cyrillic_and_latin_spellings_share_a_token(cyrillic, latin):
    assert name_tokens(cyrillic) & name_tokens(latin)
    assert name_tokens(cyrillic.upper()) == name_tokens(cyrillic)


def test_name_words_split_dedupe_and_cap():
    assert name_words("  Jan   Kowalski-Nowak, jan ") == ["Jan", "Kowalski", "Nowak"]
    assert name_words("O'Brien d’Arc") == ["O'Brien", "d’Arc"]
    assert name_words("A B") == []  # one-letter words are not indexed
    assert len(name_words(" ".join(f"Word{chr(97 + i)}x" for i in range(26)))) == normalize.MAX_NAME_WORDS
    assert name_tokens(None) == set()


def test_different_names_do_not_share_tokens():
    assert not name_tokens("Аляксандр") & name_tokens("Aliaksandra")
    assert not name_tokens("Piotr") & name_tokens("Pyotr")


@FUZZ
@given(st.text())
def test_normalisers_never_crash_on_any_text(raw):
    email = normalize_email(raw)
    assert email is None or (email == email.strip() and "@" in email and normalize_email(email) == email)
    messenger = normalize_messenger(raw)
    assert messenger is None or messenger == messenger.casefold()
    for word in name_tokens(raw):
        assert word and word == word.casefold()


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8")), st.sampled_from(["PL", "BY", "LT", "DE", "ZZ"]))
def test_phone_normaliser_never_crashes(raw, region):
    phone = normalize_phone(raw, region)
    assert phone is None or (phone.startswith("+") and phone[1:].isdigit())


@FUZZ
@given(st.from_regex(r"\A[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,20}\.(org|com|pl|by)\Z"))
def test_email_normalisation_is_idempotent_and_case_blind(raw):
    once = normalize_email(raw)
    if once is not None:
        assert normalize_email(once) == once
        assert normalize_email(raw.upper()) == once


@FUZZ
@given(st.text(alphabet=st.sampled_from("АБВГДЕЁЖЗІЙКЛМНОПРСТУЎФХЦЧШЫЬЭЮЯабвгдеёжзійклмнопрстуўфхцчшыьэюя"),
               min_size=2, max_size=20))
def test_cyrillic_words_always_get_a_latin_variant(word):
    # A soft sign alone transliterates to nothing ("ЬЬ" has no Latin spelling), and is no name.
    assume(word.strip("Ьь"))
    tokens = name_tokens(word)
    if tokens:
        assert any(t.isascii() for t in tokens)
