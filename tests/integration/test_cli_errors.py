"""Bad input for an operator: each ends with one clear line, no traceback, nothing half-written.

Every case runs the real ``flask`` CLI (or ``python -c "import wsgi"``) in another
process, on the test run's backends, with exactly one setting broken.
"""
import base64
import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import AuditEvent, Contact, ContactIndex, KeyRotation
from crm.security.keyring import Keyring, save_keyring
from tests.conftest import ROOT

UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/x"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def _error_lines(result):
    """The lines an operator reads on stderr, without log records (timestamped INFO/WARNING)."""
    return [line for line in result.stderr.splitlines()
            if line.strip() and not line[:4].isdigit()]


def assert_one_clear_line(result, *needles):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output and 'File "' not in output, output
    lines = _error_lines(result)
    assert len(lines) == 1, f"expected one line, got: {lines}"
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _state(keyring_file):
    """Everything a failed command must leave as it was."""
    db.session.remove()
    counts = tuple(db.session.scalar(select(func.count()).select_from(m))
                   for m in (Contact, ContactIndex, AuditEvent, KeyRotation))
    return counts, keyring_file.read_text()


@pytest.fixture
def seeded(make_contact, keyring_file):
    make_contact("Ala Nowak", email="ala@example.org", phone="+48 600 100 200")
    make_contact("Ола Кот", email="ola@example.org")
    return _state(keyring_file)


def _malformed_keyring():
    good = json.loads(Keyring.generate().to_json())
    good["keys"]["1"]["enc"] = "not*base64"
    return json.dumps(good)


@pytest.mark.parametrize("command", [("keys", "verify"), ("keys", "rotate", "--inline")])
def test_malformed_key_material_in_the_environment(flask_cli, seeded, keyring_file, command):
    result = flask_cli(*command, env={"MUSTER_KEYRING": _malformed_keyring()})
    line = assert_one_clear_line(result, "MUSTER_KEYRING", "key '1' is malformed")
    assert "not*base64" not in line
    assert _state(keyring_file) == seeded


def test_wrong_key_length_in_the_environment(flask_cli, seeded, keyring_file):
    keyring = json.loads(Keyring.generate().to_json())
    keyring["keys"]["1"]["idx"] = base64.b64encode(b"short").decode()
    result = flask_cli("keys", "verify", env={"MUSTER_KEYRING": json.dumps(keyring)})
    assert_one_clear_line(result, "MUSTER_KEYRING", "must be 32 bytes")
    assert _state(keyring_file) == seeded


def test_malformed_key_file(flask_cli, seeded, keyring_file, tmp_path):
    bad = tmp_path / "keyring.json"
    bad.write_text("{ this is not json")
    result = flask_cli("keys", "rotate", "--inline", env={"MUSTER_KEYRING_FILE": str(bad)})
    assert_one_clear_line(result, f"key file {bad} is not valid JSON")
    assert bad.read_text() == "{ this is not json"
    assert _state(keyring_file) == seeded


def test_missing_key_file(flask_cli, seeded, keyring_file, tmp_path):
    missing = tmp_path / "gone" / "keyring.json"
    for command in (("keys", "verify"), ("keys", "rotate"), ("audit", "verify")):
        result = flask_cli(*command, env={"MUSTER_KEYRING_FILE": str(missing)})
        if command == ("audit", "verify"):
            # The audit chain holds no encrypted value: it verifies without keys.
            assert result.returncode == 0, result.stderr
            continue
        assert_one_clear_line(result, f"key file {missing} not found", "flask crm keys generate")
    assert not missing.exists()
    assert _state(keyring_file) == seeded


def test_unknown_key_id_of_a_stored_value_is_reported_as_unreadable(flask_cli, seeded, keyring_file, tmp_path):
    """The key file lost key 1 (only a key 2 is left): verify names each value it cannot read."""
    other = tmp_path / "keyring.json"
    save_keyring(Keyring.generate().with_new_generation().without(1), other)
    result = flask_cli("keys", "verify", env={"MUSTER_KEYRING_FILE": str(other)})
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    unreadable = [line for line in result.stdout.splitlines() if "UNREADABLE" in line]
    contact_id = str(db.session.scalars(select(Contact.id)).first())
    assert any(f"UNREADABLE contact.full_name row {contact_id}: contact.full_name: key id 1 is not in the keyring"
               in line for line in unreadable), result.stdout
    assert len(unreadable) == 5  # two names, two emails, one phone
    assert "values under key 1: 5" in result.stdout
    assert "Keys still in use besides the active one: 1" in result.stdout

    # A rotation with the key missing leaves those values alone and says so on verify.
    rotated = flask_cli("keys", "rotate", "--no-new-key", "--inline", env={"MUSTER_KEYRING_FILE": str(other)})
    assert rotated.returncode == 0, rotated.stderr
    again = flask_cli("keys", "verify", env={"MUSTER_KEYRING_FILE": str(other)})
    assert again.returncode == 1 and again.stdout.count("UNREADABLE") == 5
    # ... and the values are intact for the right key.
    db.session.remove()
    assert sorted(c.email for c in db.session.scalars(select(Contact))) == ["ala@example.org", "ola@example.org"]


@pytest.mark.parametrize("command", [("keys", "rotate", "--inline"), ("audit", "verify"), ("demo", "--contacts", "3")])
def test_unreachable_database(flask_cli, seeded, keyring_file, command):
    result = flask_cli(*command, env={"DATABASE_URL": UNREACHABLE_DB})
    assert_one_clear_line(result, "the database does not answer", "DATABASE_URL")
    assert _state(keyring_file) == seeded


def test_unreachable_redis_for_a_queued_rotation(flask_cli, seeded, keyring_file):
    result = flask_cli("keys", "rotate", env={"REDIS_URL": UNREACHABLE_REDIS})
    assert_one_clear_line(result, "Redis", "REDIS_URL")
    assert _state(keyring_file) == seeded, "the rotation changed the keyring or the database before failing"
    # --inline needs no Redis and still works.
    inline = flask_cli("keys", "rotate", "--inline", env={"REDIS_URL": UNREACHABLE_REDIS})
    assert inline.returncode == 0, inline.stderr


def test_unknown_command_option_is_one_line(flask_cli):
    result = flask_cli("keys", "retire", "not-a-number")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'not-a-number' is not a valid integer" in result.stderr


def _import_wsgi(subprocess_env, **env):
    full_env = dict(subprocess_env, MUSTER_ENV="production", **env)
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MUSTER_KEYRING", "MUSTER_KEYRING_FILE"):
        if name not in env:
            full_env.pop(name, None)
    return subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_production_without_settings_refuses_to_start(subprocess_env):
    result = _import_wsgi(subprocess_env)
    line = assert_one_clear_line(result, "Muster will not start in production", "SECRET_KEY",
                                 "DATABASE_URL", "REDIS_URL", "MUSTER_KEYRING")
    assert result.returncode == 2
    assert line.startswith("muster: ")


def test_production_with_a_default_secret_refuses_to_start(subprocess_env, backend_urls, redis_url, keyring_file):
    result = _import_wsgi(subprocess_env, SECRET_KEY="short", DATABASE_URL=backend_urls[0],
                          REDIS_URL=redis_url, MUSTER_KEYRING_FILE=str(keyring_file))
    assert_one_clear_line(result, "SECRET_KEY")
    assert "DATABASE_URL" not in result.stderr


def test_production_with_a_malformed_keyring_refuses_to_start(subprocess_env, backend_urls, redis_url):
    result = _import_wsgi(subprocess_env, SECRET_KEY="x" * 40, DATABASE_URL=backend_urls[0],
                          REDIS_URL=redis_url, MUSTER_KEYRING=_malformed_keyring())
    assert_one_clear_line(result, "MUSTER_KEYRING", "malformed")


def test_production_flask_cli_refuses_with_one_line(flask_cli):
    result = flask_cli("keys", "verify", env={"MUSTER_ENV": "production", "SECRET_KEY": None,
                                              "MUSTER_KEYRING_FILE": None, "DATABASE_URL": None})
    assert_one_clear_line(result, "Muster will not start in production")


def test_unknown_environment_name(flask_cli):
    result = flask_cli("keys", "verify", env={"MUSTER_ENV": "staging"})
    assert_one_clear_line(result, "MUSTER_ENV='staging' is unknown")
