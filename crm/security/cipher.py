"""AES-256-GCM field encryption with per-column keys and row-bound associated data.

Stored form of one value (bytes)::

    version (1) | key_id (2, big-endian) | nonce (12) | ciphertext + tag (16)

The associated data names the table, the column and the row id, so a ciphertext
copied into another row or column fails authentication instead of decrypting.
"""
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keyring import KeyringError, derive_key

VERSION = 1
HEADER = struct.Struct(">BH")
NONCE_BYTES = 12
TAG_BYTES = 16
OVERHEAD = HEADER.size + NONCE_BYTES + TAG_BYTES


class DecryptionError(Exception):
    """A stored value could not be decrypted (tampered, moved, or unknown key)."""


class FieldCipher:
    """Encrypts and decrypts column values with keys derived from a keyring."""

    def __init__(self, keyring):
        self.keyring = keyring
        # (key_id, table, column) -> (AESGCM, associated-data prefix); headers by key id.
        self._columns = {}
        self._headers = {}

    def _column(self, key_id, table, column):
        cache_key = (key_id, table, column)
        entry = self._columns.get(cache_key)
        if entry is None:
            root = self.keyring.get(key_id).enc_root
            aead = AESGCM(derive_key(root, f"muster:enc:v{VERSION}:{table}:{column}"))
            entry = (aead, f"muster:v{VERSION}:{table}:{column}:")
            self._columns[cache_key] = entry
        return entry

    @staticmethod
    def associated_data(table, column, row_id):
        return f"muster:v{VERSION}:{table}:{column}:{row_id}".encode()

    def encrypt(self, table, column, row_id, plaintext):
        """Encrypt ``plaintext`` (str) for one cell under the active key."""
        if row_id is None:
            raise ValueError(f"{table}.{column}: a row id is needed before encrypting")
        key_id = self.keyring.active_id
        aead, ad_prefix = self._column(key_id, table, column)
        header = self._headers.get(key_id)
        if header is None:
            header = self._headers[key_id] = HEADER.pack(VERSION, key_id)
        nonce = os.urandom(NONCE_BYTES)
        # Same bytes as associated_data(): the prefix is only computed once per column.
        body = aead.encrypt(nonce, plaintext.encode("utf-8"), f"{ad_prefix}{row_id}".encode())
        return header + nonce + body

    def decrypt(self, table, column, row_id, blob):
        """Decrypt one cell; raise DecryptionError with a reason that holds no data."""
        blob = bytes(blob)
        if len(blob) < OVERHEAD:
            raise DecryptionError(f"{table}.{column}: value is too short to be a ciphertext")
        version, key_id = HEADER.unpack_from(blob)
        if version != VERSION:
            raise DecryptionError(f"{table}.{column}: unknown format version {version}")
        try:
            aead, ad_prefix = self._column(key_id, table, column)
        except KeyringError:
            raise DecryptionError(f"{table}.{column}: key id {key_id} is not in the keyring") from None
        nonce = blob[HEADER.size:HEADER.size + NONCE_BYTES]
        try:
            plain = aead.decrypt(nonce, blob[HEADER.size + NONCE_BYTES:], f"{ad_prefix}{row_id}".encode())
        except InvalidTag:
            raise DecryptionError(
                f"{table}.{column}: authentication failed (tampered, moved or wrong key)"
            ) from None
        return plain.decode("utf-8")


def key_id_of(blob):
    """The key id a stored value was written under (None if it is not ours)."""
    if blob is None or len(blob) < OVERHEAD:
        return None
    version, key_id = HEADER.unpack_from(bytes(blob))
    return key_id if version == VERSION else None
