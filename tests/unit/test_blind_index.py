"""Blind indexes: truncated, keyed per index and key generation, collisions dropped on lookup."""
import itertools

from crm.extensions import db
from crm.models import ContactIndex
from crm.security import blind_index
from crm.security.blind_index import EMAIL, NAME_WORD, PHONE, SPECS, BlindIndexer
from crm.security.crypto import crypto
from crm.security.keyring import Keyring
from crm.services import lookup

SAMPLES = [f"person{i}@example.org" for i in range(40)]


def test_tokens_fit_their_bit_length():
    indexer = BlindIndexer(Keyring.generate())
    for spec in SPECS.values():
        tokens = [indexer.token(spec, f"value-{i}") for i in range(2000)]
        assert all(0 <= t < 2 ** spec.bits for t in tokens), spec.name
        # Truncated on purpose, yet spread over the whole range.
        assert max(tokens) >= 2 ** spec.bits * 0.9
        assert len(set(tokens)) > 1500


def test_tokens_are_deterministic_under_one_key():
    keyring = Keyring.generate()
    one, two = BlindIndexer(keyring), BlindIndexer(keyring)
    assert [one.token(EMAIL, v) for v in SAMPLES] == [two.token(EMAIL, v) for v in SAMPLES]


def test_tokens_differ_per_key_generation():
    keyring = Keyring.generate().with_new_generation()
    indexer = BlindIndexer(keyring)
    under_1 = [indexer.token(EMAIL, v, key_id=1) for v in SAMPLES]
    under_2 = [indexer.token(EMAIL, v, key_id=2) for v in SAMPLES]
    assert under_2 == [indexer.token(EMAIL, v) for v in SAMPLES]  # 2 is active
    assert sum(a == b for a, b in zip(under_1, under_2)) <= 2


def test_tokens_differ_per_index_name():
    indexer = BlindIndexer(Keyring.generate())
    as_email = [indexer.token(EMAIL, v) for v in SAMPLES]
    as_phone = [indexer.token(PHONE, v) for v in SAMPLES]
    assert sum(a == b for a, b in zip(as_email, as_phone)) <= 2


def test_index_keys_do_not_come_from_the_encryption_root():
    keyring = Keyring.generate()
    generation = keyring.active
    swapped = Keyring({1: type(generation)(1, generation.idx_root, generation.enc_root)}, 1)
    original, other = BlindIndexer(keyring), BlindIndexer(swapped)
    assert [original.token(EMAIL, v) for v in SAMPLES] != [other.token(EMAIL, v) for v in SAMPLES]


def test_tokens_follow_normalisation():
    indexer = BlindIndexer(Keyring.generate(), phone_region="BY")
    assert indexer.tokens(EMAIL, " Ala@Example.ORG ") == indexer.tokens(EMAIL, "ala@example.org")
    assert indexer.tokens(PHONE, "8029 123 45 67") == indexer.tokens(PHONE, "+375 29 123-45-67")
    assert indexer.tokens(NAME_WORD, "Аляксандр") & indexer.tokens(NAME_WORD, "Aliaksandr")
    assert indexer.tokens(EMAIL, "not an email") == set()
    assert indexer.tokens(PHONE, "call me") == set()


def _colliding_emails():
    """Two different emails whose truncated tokens collide under the active key."""
    indexer = crypto().indexer
    seen = {}
    for i in itertools.count():
        email = f"collide{i}@example.org"
        (token,) = indexer.tokens(EMAIL, email)
        if token in seen:
            return seen[token], email, i + 1
        seen[token] = email


def test_forced_collision_is_a_candidate_but_not_a_match(make_contact):
    first_email, second_email, tries = _colliding_emails()
    print(f"\n[figure] email tokens at {blind_index.EMAIL.bits} bits: first collision after {tries} emails")
    first = make_contact("Ala Kot", email=first_email)
    second = make_contact("Ola Pies", email=second_email)
    db.session.expire_all()

    tokens = [r.token for r in db.session.query(ContactIndex).filter_by(field="email")]
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    assert set(lookup.candidate_ids(EMAIL, first_email)) == {first.id, second.id}
    assert [c.id for c in lookup.find_by_email(first_email)] == [first.id]
    assert [c.id for c in lookup.find_by_email(second_email.upper())] == [second.id]
    assert lookup.find_by_email("nobody@example.org") == []
