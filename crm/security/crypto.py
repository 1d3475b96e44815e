"""The process's view of the keyring: one cipher and one indexer, reloaded on change.

A rotation started elsewhere (another process ran `flask crm keys rotate`) writes
a new active key to the key file; every process notices the file's new mtime at
the start of its next request or job and reloads, so no process keeps writing
under a key that is being retired.
"""
import os
import threading

from flask import current_app

from .blind_index import BlindIndexer
from .cipher import FieldCipher
from .keyring import load_keyring

EXTENSION_KEY = "muster.crypto"


class Crypto:
    """Holds the keyring and the objects derived from it for one app."""

    def __init__(self, env_value, file_path, phone_region):
        self.env_value = env_value
        self.file_path = file_path
        self.phone_region = phone_region
        self._lock = threading.Lock()
        self._mtime = None
        self._load()

    def _file_mtime(self):
        if self.env_value or not self.file_path:
            return None
        try:
            return os.stat(self.file_path).st_mtime_ns
        except OSError:
            return None

    def reload(self):
        """Read the keyring again (after this process changed the key file)."""
        self._load()

    def _load(self):
        self._mtime = self._file_mtime()
        self.install(load_keyring(self.env_value, self.file_path))

    def install(self, keyring):
        """Use ``keyring`` from now on (tests and the key CLI call this)."""
        self.keyring = keyring
        self.cipher = FieldCipher(keyring)
        self.indexer = BlindIndexer(keyring, self.phone_region)

    def refresh_if_changed(self):
        """Reload the key file if another process replaced it."""
        mtime = self._file_mtime()
        if mtime is not None and mtime != self._mtime:
            with self._lock:
                if mtime != self._mtime:
                    self._load()


def crypto_for(app):
    """The app's Crypto, loading the keyring on first use (KeyringError if it cannot)."""
    loaded = app.extensions.get(EXTENSION_KEY)
    if loaded is None:
        loaded = Crypto(app.config["MUSTER_KEYRING"], app.config["MUSTER_KEYRING_FILE"],
                        app.config["DEFAULT_PHONE_REGION"])
        app.extensions[EXTENSION_KEY] = loaded
    return loaded


def crypto():
    """The current app's Crypto object."""
    # Resolve the proxy once: this runs for every encrypted value read or written.
    app = current_app._get_current_object()
    loaded = app.extensions.get(EXTENSION_KEY)
    return loaded if loaded is not None else crypto_for(app)
