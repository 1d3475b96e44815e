"""Files at rest under ``<INSTANCE_DIR>/files/``: streamed, chunked AES-256-GCM.

Uploaded sheets, rejected-row CSVs and exports are written here, never to Redis
and never in the clear. Each file gets its own random 256-bit data key, wrapped
(AES-GCM) under a key derived from the keyring's active encryption root, so a
key rotation only has to re-wrap a header (see docs/decisions/0011-encrypted-file-store.md).

On-disk layout::

    header:  magic "MUSTERF1" | key_id (2) | chunk size (4) | wrap nonce (12) | wrapped key (48)
    records: final flag (1) | length (4) | ciphertext + tag (length)   -- repeated

Chunk ``i`` is encrypted with nonce = ``i`` (96-bit big-endian; safe because the key
is used for one file only) and associated data binding the file id, the chunk
index and the final flag, so chunks cannot be reordered, moved to another file,
or dropped from the end: a reader that reaches the end without a final chunk,
or finds data after it, raises ``FileIntegrityError``. Every chunk but the last
holds exactly ``chunk size`` bytes, which makes the plaintext seekable (openpyxl
reads an XLSX's zip directory from its end) without decrypting what comes before.
"""
import io
import os
import secrets
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keyring import derive_key

MAGIC = b"MUSTERF1"
HEADER = struct.Struct(">8sHI12s48s")
RECORD = struct.Struct(">BI")
TAG_BYTES = 16
CHUNK_BYTES = 64 * 1024
WRAP_PURPOSE = "muster:files:v1:wrap"


class FileIntegrityError(Exception):
    """A stored file is truncated, tampered with, or under a key we no longer hold."""


def _wrap_key(keyring, key_id):
    return AESGCM(derive_key(keyring.get(key_id).enc_root, WRAP_PURPOSE))


def _chunk_ad(file_id, index, final):
    return f"muster:file:v1:{file_id}:{index}:{int(final)}".encode()


def _nonce(index):
    return index.to_bytes(12, "big")


def wrap_header(keyring, file_id, data_key, chunk_bytes=CHUNK_BYTES):
    """The header of a file whose data key is ``data_key``, wrapped under the active key."""
    key_id = keyring.active_id
    nonce = secrets.token_bytes(12)
    wrapped = _wrap_key(keyring, key_id).encrypt(nonce, data_key, f"muster:file:v1:{file_id}".encode())
    return HEADER.pack(MAGIC, key_id, chunk_bytes, nonce, wrapped)


def read_header(keyring, file_id, raw):
    """(key id, chunk size, data key) from a header; FileIntegrityError if it is not ours."""
    if len(raw) != HEADER.size:
        raise FileIntegrityError("stored file is too short to hold a header")
    magic, key_id, chunk_bytes, nonce, wrapped = HEADER.unpack(raw)
    if magic != MAGIC or not 0 < chunk_bytes <= 16 * 1024 * 1024:
        raise FileIntegrityError("stored file has no Muster file header")
    try:
        data_key = _wrap_key(keyring, key_id).decrypt(nonce, wrapped, f"muster:file:v1:{file_id}".encode())
    except InvalidTag:
        raise FileIntegrityError("stored file's key does not unwrap (tampered or moved)") from None
    except Exception:  # KeyringError: the key generation was retired
        raise FileIntegrityError(f"stored file's key {key_id} is not in the keyring") from None
    return key_id, chunk_bytes, data_key


def header_key_id(path):
    """The key generation that wraps a stored file's data key (None if unreadable)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(HEADER.size)
        return HEADER.unpack(raw)[1] if len(raw) == HEADER.size and raw[:8] == MAGIC else None
    except OSError:
        return None


class EncryptingWriter(io.RawIOBase):
    """A write-only binary stream that encrypts chunk by chunk into ``fh``."""

    def __init__(self, fh, keyring, file_id, chunk_bytes=CHUNK_BYTES):
        super().__init__()
        self._fh = fh
        self._file_id = str(file_id)
        self._chunk = chunk_bytes
        data_key = secrets.token_bytes(32)
        self._aead = AESGCM(data_key)
        self._fh.write(wrap_header(keyring, self._file_id, data_key, chunk_bytes))
        self._buffer = bytearray()
        self._index = 0
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        self._buffer += data
        self.size += len(data)
        # Keep at least one byte back: only close() knows which chunk is final.
        while len(self._buffer) > self._chunk:
            self._emit(bytes(self._buffer[:self._chunk]), final=False)
            del self._buffer[:self._chunk]
        return len(data)

    def _emit(self, plain, final):
        body = self._aead.encrypt(_nonce(self._index), plain, _chunk_ad(self._file_id, self._index, final))
        self._fh.write(RECORD.pack(int(final), len(body)) + body)
        self._index += 1

    def finish(self):
        """Write the final chunk: the stream is complete only after this.

        ``close()`` without ``finish()`` leaves a file that every reader rejects.
        """
        if not self.closed:
            self._emit(bytes(self._buffer), final=True)
            self._buffer.clear()
            self.close()


class DecryptingReader(io.RawIOBase):
    """A seekable read-only binary stream over a stored file's plaintext."""

    def __init__(self, fh, keyring, file_id):
        super().__init__()
        self._fh = fh
        self._file_id = str(file_id)
        _, self._chunk, data_key = read_header(keyring, self._file_id, fh.read(HEADER.size))
        self._aead = AESGCM(data_key)
        self._record = RECORD.size + self._chunk + TAG_BYTES
        stored = os.fstat(fh.fileno()).st_size - HEADER.size
        self._chunks = max(1, -(-stored // self._record))
        last_record = stored - (self._chunks - 1) * self._record
        if last_record < RECORD.size + TAG_BYTES:
            raise FileIntegrityError("stored file is truncated")
        self.size = (self._chunks - 1) * self._chunk + last_record - RECORD.size - TAG_BYTES
        self._pos = 0
        self._cached = (None, b"")

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _load(self, index):
        if self._cached[0] == index:
            return self._cached[1]
        final = index == self._chunks - 1
        self._fh.seek(HEADER.size + index * self._record)
        head = self._fh.read(RECORD.size)
        if len(head) != RECORD.size:
            raise FileIntegrityError("stored file is truncated")
        flag, length = RECORD.unpack(head)
        body = self._fh.read(length)
        if flag != int(final) or len(body) != length or length > self._chunk + TAG_BYTES:
            raise FileIntegrityError("stored file is truncated or has extra data")
        try:
            plain = self._aead.decrypt(_nonce(index), body, _chunk_ad(self._file_id, index, final))
        except InvalidTag:
            raise FileIntegrityError("stored file failed authentication (tampered or moved)") from None
        self._cached = (index, plain)
        return plain

    def readinto(self, buffer):
        if self._pos >= self.size:
            if self.size == 0:
                self._load(0)  # an empty file still proves it is complete
            return 0
        index, offset = divmod(self._pos, self._chunk)
        plain = self._load(index)
        piece = plain[offset:offset + len(buffer)]
        buffer[:len(piece)] = piece
        self._pos += len(piece)
        return len(piece)

    def close(self):
        if not self.closed:
            self._fh.close()
        super().close()


def rewrap(path, keyring, file_id):
    """Re-wrap a stored file's data key under the active key (header only; the chunks stay)."""
    with open(path, "r+b") as fh:
        _, chunk_bytes, data_key = read_header(keyring, str(file_id), fh.read(HEADER.size))
        fh.seek(0)
        fh.write(wrap_header(keyring, str(file_id), data_key, chunk_bytes))
        fh.flush()
        os.fsync(fh.fileno())
