"""The plain-ASCII email path gives exactly what email_validator gives, or leaves it to it."""
import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.security import normalize

ATEXT = "abcXYZ019_!#$%&'*+/=?^`{|}~-"
LDH = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"


def reference(raw):
    """email_validator's normal form, as normalize_email computed it before the fast path."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    domain = result.ascii_domain or result.domain
    return f"{result.local_part.casefold()}@{domain.lower()}"


def assert_same(raw):
    fast = normalize._plain_email(raw.strip())
    assert normalize._normalize_email(raw) == reference(raw), raw
    # The fast path answers only for addresses email_validator accepts, with its value.
    assert fast is None or fast == reference(raw), raw


TRICKY = [
    "ala@example.org", "  A.Test@Example.ORG \t", "ALA@EXAMPLE.ORG", "Person1234@Example.Org",
    "info@example.org", "INFO@EXAMPLE.ORG", "Postmaster@example.org", "first.last+tag@sub.example.co.uk",
    "o'brien@example.ie", "a!#$%&'*+/=?^_`{|}~-b@example.org", "x@a.b.c.d.e.f.example",
    ".lead@example.org", "trail.@example.org", "two..dots@example.org", "a@example..org",
    "a@.example.org", "a@example.org.", "a@-example.org", "a@example-.org", "a@exa-mple.org",
    "a@ab--cd.example", "a@xn--bcher-kva.example", "a@XN--BCHER-KVA.example", "a@xn--.example",
    "a@example.xn--p1ai", "a@example.123", "a@123.example", "a@example.c0m", "a@example.c",
    "a@localhost", "a@host.localhost", "a@example.test", "a@test", "a@example.invalid",
    "a@example.local", "a@x.onion", "a@10.in-addr.arpa", "a@example.arpa", "a@exampletest.org",
    "a@example.testing", "a@nodot", "a@[127.0.0.1]", "a@[IPv6:::1]", '"quoted"@example.org',
    '"a b"@example.org', "a\\b@example.org", "a b@example.org", "a@exa mple.org", "a@b@example.org",
    "Name <a@example.org>", "<a@example.org>", "a@example.org>", "a(comment)@example.org",
    "a@example_org.com", "a@example.org\u200b", "a\u00e9@example.org", "a@b\u00fccher.example",
    "\uff41@example.org", "a\uff20example.org", "a@example\uff0eorg", "a@\u2488.example",
    "user@EXAMPLE.\u0130", "a@", "@example.org", "", " ", "@", "a@a.a", "a@a-1.b2",
    "x" * 64 + "@example.org", "x" * 65 + "@example.org", "x" * 200 + "@example.org",
    "a@" + "b" * 63 + ".example", "a@" + "b" * 64 + ".example",
    "a@" + ".".join(["b" * 60] * 4) + ".org", "a@" + ".".join(["b" * 61] * 4) + ".org",
    "a" * 240 + "@example.org", "a" * 242 + "@example.org", "a" * 243 + "@example.org",
    "ALL.CAPS.LOCAL@Sub.Domain.Example.ORG", "kappa\u212a@example.org", "stra\u00dfe@example.org",
]


@pytest.mark.parametrize("raw", TRICKY)
def test_tricky_addresses_match_email_validator(raw):
    assert_same(raw)


def test_the_fast_path_is_taken_for_plain_addresses():
    assert normalize._plain_email("Person1234@Example.Org") == "person1234@example.org"
    assert normalize._plain_email("a@xn--bcher-kva.example") is None  # Punycode: email_validator decides
    assert normalize._plain_email("a@example.test") is None


def test_special_use_names_are_email_validators():
    assert set(normalize._SPECIAL_USE) == set(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def test_many_synthetic_sheet_addresses():
    for n in range(2000):
        for raw in (f"person{n}@example.org", f"PERSON{n}@EXAMPLE.ORG", f" Jan.Kowalski{n}+x@Poczta.Onet.PL "):
            assert_same(raw)


_local = st.text(alphabet=ATEXT + ".", min_size=0, max_size=70)
_label = st.text(alphabet=LDH, min_size=0, max_size=66)
_domain = st.lists(_label, min_size=1, max_size=5).map(".".join)


@settings(max_examples=1500, deadline=None)
@given(_local, _domain)
def test_generated_ascii_addresses_match_email_validator(local, domain):
    assert_same(f"{local}@{domain}")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_any_text_matches_email_validator(raw):
    assert_same(raw)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ATEXT + ".@-", max_size=40), st.sampled_from(
    ["org", "test", "local", "localhost", "arpa", "onion", "invalid", "123", "xn--p1ai", "c0m", "ORG"]))
def test_generated_tlds_match_email_validator(prefix, tld):
    assert_same(f"{prefix}.{tld}")
