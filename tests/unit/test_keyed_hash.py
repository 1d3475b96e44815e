"""KeyedSha256 is HMAC-SHA256: the same bytes as the standard library for any key and message."""
import hashlib
import hmac
import os

import pytest

from crm.security.keyed_hash import KeyedSha256


@pytest.mark.parametrize("key_length", [0, 1, 16, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("message", [b"", b"a", "ż@example.org".encode(), bytes(range(64)), bytes(range(256)) * 4],
                         ids=["empty", "one", "email", "block", "long"])
def test_same_digest_as_hmac(key_length, message):
    key = os.urandom(key_length)
    mac = KeyedSha256(key)
    assert mac.digest(message) == hmac.digest(key, message, "sha256")
    assert mac.hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()
    assert mac.digest(message) == mac.digest(message)  # the precomputed states are not consumed


def test_rfc4231_case_2():
    mac = KeyedSha256(b"Jefe")
    assert mac.hexdigest(b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
