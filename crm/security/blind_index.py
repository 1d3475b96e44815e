"""Blind indexes: truncated keyed HMACs of normalised values.

Each index has its own HMAC key, derived with HKDF from the keyring's index root
(never from the encryption root). Tokens are truncated to a few bits on purpose:
a lookup returns a handful of candidates that are then decrypted and compared, so
a value an attacker planted through the public form cannot pin one row. The bit
lengths and the reasoning are in docs/decisions/0003-blind-index-lengths.md.
"""
from dataclasses import dataclass

from . import normalize
from .keyed_hash import KeyedSha256
from .keyring import derive_key


@dataclass(frozen=True)
class IndexSpec:
    name: str
    bits: int


EMAIL = IndexSpec("email", 14)
PHONE = IndexSpec("phone", 14)
MESSENGER = IndexSpec("messenger", 14)
NAME_WORD = IndexSpec("name_word", 16)
SPECS = {spec.name: spec for spec in (EMAIL, PHONE, MESSENGER, NAME_WORD)}


class BlindIndexer:
    """Computes index tokens under each key generation of a keyring."""

    def __init__(self, keyring, phone_region="PL"):
        self.keyring = keyring
        self.phone_region = phone_region
        self._keys = {}

    def _key(self, key_id, spec):
        cache_key = (key_id, spec.name)
        key = self._keys.get(cache_key)
        if key is None:
            root = self.keyring.get(key_id).idx_root
            key = KeyedSha256(derive_key(root, f"muster:bidx:v1:{spec.name}"))
            self._keys[cache_key] = key
        return key

    def token(self, spec, normalized, key_id=None):
        """The truncated HMAC of an already normalised value, as an int."""
        key_id = self.keyring.active_id if key_id is None else key_id
        digest = self._key(key_id, spec).digest(normalized.encode("utf-8"))
        return int.from_bytes(digest[:4], "big") >> (32 - spec.bits)

    # -- what a contact's values index to ------------------------------------------

    def normalized_values(self, spec, raw):
        """The normalised forms of a raw value for one index (empty if none)."""
        if spec is EMAIL:
            value = normalize.normalize_email(raw)
            return {value} if value else set()
        if spec is PHONE:
            value = normalize.normalize_phone(raw, self.phone_region)
            return {value} if value else set()
        if spec is MESSENGER:
            value = normalize.normalize_messenger(raw)
            return {value} if value else set()
        if spec is NAME_WORD:
            return normalize.name_tokens(raw)
        raise ValueError(f"unknown index {spec.name}")

    def tokens(self, spec, raw, key_id=None):
        """Distinct tokens of one raw value under one key generation."""
        return {self.token(spec, v, key_id) for v in self.normalized_values(spec, raw)}
