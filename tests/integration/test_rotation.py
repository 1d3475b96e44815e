"""Key rotation through the real CLI and a real RQ worker, inline, and refused retirements."""
from crm.extensions import db
from crm.security.crypto import crypto
from crm.security.keyring import load_keyring, save_keyring
from tests.integration.rotation_helpers import (
    assert_people_found,
    assert_rotated,
    index_counts,
    keyring_ids,
    seed_everything,
    stored_key_ids,
)


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def test_rotate_through_a_real_worker_then_verify_and_retire(
        make_contact, make_user, flask_cli, start_worker, keyring_file):
    before, searchable = seed_everything(make_contact, make_user)
    counts = index_counts()
    assert set(stored_key_ids()[0]) == {1}

    worker = start_worker("maintenance")
    out = _ok(flask_cli("keys", "rotate"))  # waits, showing progress, until the worker is done
    assert "Key 2 is now active." in out and "queued on the 'maintenance' queue" in out
    assert "done: run `flask crm keys verify`" in out
    assert worker.poll() is None, worker.output_path.read_text()[-2000:]
    assert keyring_ids(keyring_file) == (2, [1, 2])

    assert_rotated(2, before, counts, searchable)
    assert_people_found(5)
    out = _ok(flask_cli("keys", "verify"))
    assert f"Checked {sum(len([v for v in row.values() if v]) for row in before.values())} encrypted values" in out
    assert "values under key 2" in out and "under key 1" not in out
    assert "OK: every value decrypts" in out

    out = _ok(flask_cli("keys", "retire", "1"))
    assert "Key 1 retired" in out
    assert keyring_ids(keyring_file) == (2, [2])
    assert_rotated(2, before, counts, searchable)
    _ok(flask_cli("keys", "verify"))
    log = worker.output_path.read_text()
    assert "rotate-keys-" in log and "Traceback" not in log


def test_rotate_inline_twice(make_contact, make_user, flask_cli, keyring_file):
    before, searchable = seed_everything(make_contact, make_user, copies=2)
    counts = index_counts()
    for expected_key in (2, 3):
        out = _ok(flask_cli("keys", "rotate", "--inline"))
        assert f"Key {expected_key} is now active." in out
        assert_rotated(expected_key, before, counts, searchable)
    assert keyring_ids(keyring_file) == (3, [1, 2, 3])
    _ok(flask_cli("keys", "retire", "1"))
    _ok(flask_cli("keys", "retire", "2"))
    assert keyring_ids(keyring_file) == (3, [3])
    _ok(flask_cli("keys", "verify"))


def test_retire_before_rotation_is_refused(make_contact, make_user, flask_cli, keyring_file):
    before, searchable = seed_everything(make_contact, make_user, copies=1)
    counts = index_counts()
    refused = flask_cli("keys", "retire", "1")
    assert refused.returncode != 0 and "key 1 is the active key" in refused.stderr

    # A new active key without a rotation (what an operator of MUSTER_KEYRING does first).
    save_keyring(load_keyring("", str(keyring_file)).with_new_generation(), keyring_file)
    refused = flask_cli("keys", "retire", "1")
    assert refused.returncode == 1
    assert "key 1 still protects" in refused.stderr and "run `flask crm keys rotate` first" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert keyring_ids(keyring_file) == (2, [1, 2])

    stale = flask_cli("keys", "verify")
    assert stale.returncode == 1
    assert "Keys still in use besides the active one: 1" in stale.stdout

    # Everything is still readable (key 1 is kept) and writes go under key 2.
    crypto().reload()
    db.session.remove()  # end any read transaction: other processes wrote since
    from crm.models import Contact

    contact = db.session.get(Contact, searchable[0])
    assert contact.full_name == before[("contact", str(contact.id))]["full_name"]

    _ok(flask_cli("keys", "rotate", "--no-new-key", "--inline"))
    assert_rotated(2, before, counts, searchable)
    _ok(flask_cli("keys", "retire", "1"))
    assert keyring_ids(keyring_file) == (2, [2])
    refused = flask_cli("keys", "retire", "9")
    assert refused.returncode != 0 and "key id 9 is not in the keyring" in refused.stderr
