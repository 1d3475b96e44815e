"""The keyring: its stored form, file permissions, and every kind of bad key material."""
import base64
import json
import stat

import pytest

from crm.security.keyring import (
    KEY_BYTES,
    Keyring,
    KeyringError,
    derive_key,
    load_keyring,
    save_keyring,
)


def _entry(enc=None, idx=None):
    return {
        "enc": enc if enc is not None else base64.b64encode(b"e" * KEY_BYTES).decode(),
        "idx": idx if idx is not None else base64.b64encode(b"i" * KEY_BYTES).decode(),
        "created": "2026-01-01T00:00:00+00:00",
    }


def _keyring_json(keys=None, active=1, **extra):
    data = {"format": 1, "active": active, "keys": keys if keys is not None else {"1": _entry()}}
    data.update(extra)
    return json.dumps(data)


def test_save_and_load_round_trip_with_0600_permissions(tmp_path):
    keyring = Keyring.generate().with_new_generation()
    path = tmp_path / "keys" / "keyring.json"
    save_keyring(keyring, path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_keyring("", str(path))
    assert loaded.ids() == [1, 2]
    assert loaded.active_id == 2
    for key_id in (1, 2):
        assert loaded.get(key_id).enc_root == keyring.get(key_id).enc_root
        assert loaded.get(key_id).idx_root == keyring.get(key_id).idx_root
    assert not list(path.parent.glob("*.tmp-*")), "the atomic write left its temporary file"


def test_save_keeps_0600_when_replacing_a_looser_file(tmp_path):
    path = tmp_path / "keyring.json"
    path.write_text("old")
    path.chmod(0o644)
    save_keyring(Keyring.generate(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_environment_value_wins_over_the_file(tmp_path):
    in_file, in_env = Keyring.generate(), Keyring.generate().with_new_generation()
    path = tmp_path / "keyring.json"
    save_keyring(in_file, path)
    loaded = load_keyring(in_env.to_json(), str(path))
    assert loaded.active_id == 2
    assert loaded.active.enc_root == in_env.active.enc_root


def test_roots_are_independent_and_sized():
    generation = Keyring.generate().active
    assert len(generation.enc_root) == len(generation.idx_root) == KEY_BYTES
    assert generation.enc_root != generation.idx_root
    # The roots never show up in a repr (and so never in a log line or a traceback).
    assert "enc_root" not in repr(generation) and "idx_root" not in repr(generation)


def test_derived_keys_differ_per_purpose_and_root():
    a, b = Keyring.generate().active, Keyring.generate().active
    keys = {
        derive_key(a.enc_root, "muster:enc:v1:contact:email"),
        derive_key(a.enc_root, "muster:enc:v1:contact:phone"),
        derive_key(b.enc_root, "muster:enc:v1:contact:email"),
        derive_key(a.idx_root, "muster:enc:v1:contact:email"),
    }
    assert len(keys) == 4
    assert all(len(k) == KEY_BYTES for k in keys)


def test_new_generation_and_retiring():
    keyring = Keyring.generate()
    rotated = keyring.with_new_generation()
    assert keyring.ids() == [1] and rotated.ids() == [1, 2] and rotated.active_id == 2
    with pytest.raises(KeyringError, match="key 2 is active and cannot be retired"):
        rotated.without(2)
    assert rotated.without(1).ids() == [2]
    with pytest.raises(KeyringError, match="key id 7 is not in the keyring"):
        rotated.without(7)


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not valid JSON"),
    ("   ", "is not valid JSON"),
    ('["a list"]', "is not a format-1 Muster keyring"),
    (_keyring_json(format=2), "is not a format-1 Muster keyring"),
    (_keyring_json(keys={}), "holds no keys"),
    (_keyring_json(keys={"1": _entry(enc="not base64!!")}), "key '1' is malformed"),
    (_keyring_json(keys={"1": _entry(idx="QUJD=x")}), "key '1' is malformed"),
    (_keyring_json(keys={"1": {"enc": _entry()["enc"]}}), "key '1' is malformed"),
    (_keyring_json(keys={"one": _entry()}), "key 'one' is malformed"),
    (_keyring_json(keys={"1": _entry(enc=base64.b64encode(b"short").decode())}), "must be 32 bytes"),
    (_keyring_json(keys={"1": _entry(idx=base64.b64encode(b"x" * 33).decode())}), "must be 32 bytes"),
    (_keyring_json(keys={"0": _entry()}), "key id '0' is out of range"),
    (_keyring_json(keys={"70000": _entry()}, active=70000), "key id '70000' is out of range"),
    (_keyring_json(active=5), "active key 5 is not in the keyring"),
    (_keyring_json(active="1"), "names no active key"),
])
def test_malformed_material_raises_a_clear_keyring_error(text, message):
    with pytest.raises(KeyringError, match=message) as caught:
        load_keyring(text, "")
    assert str(caught.value).startswith("MUSTER_KEYRING")
    assert "\n" not in str(caught.value)
    # The message names what is wrong, never the key material itself.
    assert _entry()["enc"] not in str(caught.value)


def test_missing_key_file_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "nowhere" / "keyring.json"
    with pytest.raises(KeyringError) as caught:
        load_keyring("", str(path))
    assert str(path) in str(caught.value)
    assert "flask crm keys generate" in str(caught.value)


def test_malformed_key_file_names_the_file(tmp_path):
    path = tmp_path / "keyring.json"
    path.write_text(_keyring_json(keys={"1": _entry(enc="%%%")}))
    with pytest.raises(KeyringError, match=f"key file {path}: key '1' is malformed"):
        load_keyring("", str(path))


def test_unreadable_key_file(tmp_path):
    path = tmp_path / "keyring.json"
    path.mkdir()  # a directory where the file should be: open() fails with an OSError
    with pytest.raises(KeyringError, match="cannot be read"):
        load_keyring("", str(path))


def test_no_keyring_configured():
    with pytest.raises(KeyringError, match="set MUSTER_KEYRING or MUSTER_KEYRING_FILE"):
        load_keyring("", "")
