"""The keyring: root keys that live outside the database.

Each key generation has an integer id and two independent 256-bit roots:
``enc`` (field encryption) and ``idx`` (blind indexes). Per-column keys are
derived from these roots with HKDF, so the roots themselves never touch a row.
Exactly one generation is *active* for writing; the others stay readable until
a rotation has moved every value off them and they are retired.

Stored form (file or the MUSTER_KEYRING variable)::

    {"format": 1, "active": 2,
     "keys": {"1": {"enc": "<base64>", "idx": "<base64>", "created": "..."},
              "2": {...}}}
"""
import base64
import binascii
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
FORMAT = 1
MAX_KEY_ID = 0xFFFF


class KeyringError(Exception):
    """The keyring is missing or malformed; the message says what to fix."""


@dataclass(frozen=True)
class KeyGeneration:
    key_id: int
    enc_root: bytes = field(repr=False)
    idx_root: bytes = field(repr=False)
    created: str = ""


def _derive(root, purpose):
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=purpose.encode()).derive(root)


@lru_cache(maxsize=4096)
def derive_key(root, purpose):
    """HKDF-SHA256 sub-key of ``root`` for one purpose (cached: roots are few)."""
    return _derive(root, purpose)


class Keyring:
    """Key generations by id, one of them active."""

    def __init__(self, generations, active_id):
        self.generations = dict(generations)
        if active_id not in self.generations:
            raise KeyringError(f"the keyring's active key {active_id} is not in the keyring")
        self.active_id = active_id

    @property
    def active(self):
        return self.generations[self.active_id]

    def get(self, key_id):
        try:
            return self.generations[key_id]
        except KeyError:
            raise KeyringError(f"key id {key_id} is not in the keyring") from None

    def ids(self):
        return sorted(self.generations)

    # -- creating and changing -------------------------------------------------

    @classmethod
    def generate(cls):
        """A fresh keyring with one active generation."""
        return cls({1: new_generation(1)}, 1)

    def with_new_generation(self):
        """A copy with one more generation, which becomes active."""
        next_id = max(self.generations) + 1
        if next_id > MAX_KEY_ID:
            raise KeyringError("no key ids left; retire old keys first")
        generations = dict(self.generations)
        generations[next_id] = new_generation(next_id)
        return Keyring(generations, next_id)

    def without(self, key_id):
        """A copy with generation ``key_id`` removed (it must not be active)."""
        if key_id == self.active_id:
            raise KeyringError(f"key {key_id} is active and cannot be retired")
        self.get(key_id)
        generations = {k: v for k, v in self.generations.items() if k != key_id}
        return Keyring(generations, self.active_id)

    # -- serialisation -----------------------------------------------------------

    def to_json(self):
        return json.dumps({
            "format": FORMAT,
            "active": self.active_id,
            "keys": {
                str(g.key_id): {
                    "enc": base64.b64encode(g.enc_root).decode(),
                    "idx": base64.b64encode(g.idx_root).decode(),
                    "created": g.created,
                }
                for g in self.generations.values()
            },
        }, indent=2)

    @classmethod
    def from_json(cls, text, source="the keyring"):
        try:
            data = json.loads(text)
        except (ValueError, TypeError):
            raise KeyringError(f"{source} is not valid JSON") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise KeyringError(f"{source} is not a format-{FORMAT} Muster keyring")
        keys = data.get("keys")
        if not isinstance(keys, dict) or not keys:
            raise KeyringError(f"{source} holds no keys")
        generations = {}
        for raw_id, entry in keys.items():
            try:
                key_id = int(raw_id)
                enc = base64.b64decode(entry["enc"], validate=True)
                idx = base64.b64decode(entry["idx"], validate=True)
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise KeyringError(f"{source}: key {raw_id!r} is malformed") from None
            if not 0 < key_id <= MAX_KEY_ID:
                raise KeyringError(f"{source}: key id {raw_id!r} is out of range")
            if len(enc) != KEY_BYTES or len(idx) != KEY_BYTES:
                raise KeyringError(f"{source}: key {key_id} must be {KEY_BYTES} bytes per root")
            generations[key_id] = KeyGeneration(key_id, enc, idx, str(entry.get("created", "")))
        active = data.get("active")
        if not isinstance(active, int):
            raise KeyringError(f"{source} names no active key")
        if active not in generations:
            raise KeyringError(f"{source}: the active key {active} is not in the keyring")
        return cls(generations, active)


def new_generation(key_id):
    return KeyGeneration(
        key_id=key_id,
        enc_root=secrets.token_bytes(KEY_BYTES),
        idx_root=secrets.token_bytes(KEY_BYTES),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def load_keyring(env_value, file_path):
    """Load from the environment value if given, else from the key file."""
    if env_value:
        return Keyring.from_json(env_value, source="MUSTER_KEYRING")
    if not file_path:
        raise KeyringError("no keyring configured: set MUSTER_KEYRING or MUSTER_KEYRING_FILE")
    try:
        with open(file_path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise KeyringError(
            f"key file {file_path} not found: create it with `flask crm keys generate`"
        ) from None
    except OSError as exc:
        raise KeyringError(f"key file {file_path} cannot be read: {exc.strerror}") from None
    return Keyring.from_json(text, source=f"key file {file_path}")


def save_keyring(keyring, file_path):
    """Write the keyring atomically with 0600 permissions."""
    directory = os.path.dirname(os.path.abspath(file_path))
    os.makedirs(directory, exist_ok=True)
    tmp_path = f"{file_path}.tmp-{os.getpid()}"
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(keyring.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_path, file_path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    os.chmod(file_path, stat.S_IRUSR | stat.S_IWUSR)
