"""The tests hash with argon2id's cheapest parameters; everything else uses decision 0002's."""
from flask import Flask

from crm.security import passwords


def _hash_in(testing):
    app = Flask(__name__)
    app.config["TESTING"] = testing
    with app.app_context():
        stored = passwords.hash_password("Quiet-lantern-oxbow-47-marmalade")
        return stored, passwords.verify_password(stored, "Quiet-lantern-oxbow-47-marmalade"), \
            passwords.verify_password(stored, "quiet-lantern-oxbow-47-marmalade")


def test_outside_tests_passwords_get_the_production_argon2id_parameters():
    stored, right, wrong = _hash_in(testing=False)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # RFC 9106, second profile
    assert right and not wrong


def test_the_test_configuration_hashes_cheaply_with_the_same_algorithm():
    stored, right, wrong = _hash_in(testing=True)
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert right and not wrong
