"""Anchors of the audit chain kept outside the database (decision 0033).

The hash chain (decision 0007) shows an edited or deleted row, but not the newest rows
cut off, nor a chain rewritten by someone who recomputes every hash after an edit: the
hash has no key. So a cron job writes the chain's head, ``(id, hash)``, outside the
database every ten minutes: one line appended to ``AUDIT_ANCHOR_FILE`` and the same line
in the application log, which operators ship off the host. ``verify`` then checks each
anchor against the row with its id: a missing row or another hash means the chain was
cut or rewritten after the anchor was written.

An anchor carries an HMAC under a key derived from the keyring's index root, so whoever
can edit the anchor file but does not hold the keyring cannot forge one. Anchors hold
ids and digests only: no personal data.
"""
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from ..errors import ConfigurationError
from ..models.audit import AuditEvent
from ..models.base import utcnow
from .audit import verify_chain
from .crypto import crypto
from .keyring import KeyringError, derive_key

log = logging.getLogger(__name__)
_TAIL_BYTES = 4096  # the last anchor line is far shorter


@dataclass(frozen=True)
class Anchor:
    event_id: int
    hash: str
    at: str | None = None  # when it was written (UTC, ISO 8601)
    source: str = "the command line"  # where it was read, for the report


class AnchorError(Exception):
    """An anchor that cannot be trusted or read; the message says which and why."""


def anchor_path(app=None):
    """``AUDIT_ANCHOR_FILE``, or ``<INSTANCE_DIR>/audit-anchors.jsonl`` when it is empty."""
    config = (app or current_app).config
    return Path(config["AUDIT_ANCHOR_FILE"] or Path(config["INSTANCE_DIR"]) / "audit-anchors.jsonl")


def _mac(key_id, event_id, digest, at):
    root = crypto().keyring.get(key_id).idx_root
    message = f"{event_id}|{digest}|{at}".encode()
    return hmac.new(derive_key(root, "muster:audit:anchor"), message, hashlib.sha256).hexdigest()


def chain_head(session):
    """(id, hash) of the newest committed audit event, or None for an empty log."""
    row = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return None if row is None else (row.id, row.hash)


def write_anchor(session, path=None):
    """Append the chain's head to the anchor file and the log, unless it is already the last
    anchor there (an idle night writes nothing). Returns the ``Anchor`` written, or None.

    The chain since the last anchor is checked first (all of it before the first anchor):
    a tampered chain raises ``AnchorError`` and is never anchored."""
    path = Path(path or anchor_path())
    head = chain_head(session)
    if head is None:
        return None
    event_id, digest = head
    last = _last_anchor(path)
    # Only the rows since the last anchor; the whole log when there is none yet (the first run).
    report = verify_chain(session, since=last)
    if not report.ok:
        # Operators alert on this line; the job fails and shows on the jobs page.
        log.error("audit chain BROKEN at audit event %s: %s", report.broken_id, report.reason)
        raise AnchorError(f"audit chain BROKEN at audit event {report.broken_id}: {report.reason}. "
                          "No anchor was written; run `flask crm audit verify` and treat it as an incident")
    if last is not None and (last.event_id, last.hash) == head:
        return None
    at = utcnow().replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    key_id = crypto().keyring.active_id
    line = {"id": event_id, "hash": digest, "at": at, "key": key_id, "mac": _mac(key_id, event_id, digest, at)}
    text = json.dumps(line, separators=(",", ":")) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode())  # one write in append mode: lines never interleave
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the audit anchor file {path} ({exc.strerror}): "
                                 "check AUDIT_ANCHOR_FILE and its folder's permissions") from None
    # The same anchor in the log, which leaves the host: `flask crm audit verify --anchor ID:HASH`.
    log.info("audit anchor %s:%s at %s (key %s, mac %s)", event_id, digest, at, key_id, line["mac"])
    return Anchor(event_id, digest, at, str(path))


STALE_AFTER = timedelta(minutes=30)  # three missed runs of the 10-minute job


@dataclass(frozen=True)
class AnchorStatus:
    """What the audit log page says about anchoring (the job's own check is the real one)."""

    last: Anchor | None  # the file's last anchor, its MAC checked
    problem: str | None = None  # the file fails its check
    stale: bool = False  # the log grew and nothing was anchored for STALE_AFTER


def status(session, path=None):
    """The anchor file's last line, checked, and whether anchoring looks stopped."""
    path = Path(path or anchor_path())
    try:
        last = _last_anchor(path)
    except AnchorError as exc:
        return AnchorStatus(None, str(exc))
    head = chain_head(session)
    if last is None or head is None or head[0] == last.event_id:
        return AnchorStatus(last)
    written = datetime.fromisoformat(last.at.rstrip("Z")).replace(tzinfo=UTC)
    return AnchorStatus(last, stale=utcnow() - written > STALE_AFTER)


def _last_anchor(path):
    """The file's last anchor, checked against its MAC (None: no file, or a retired key)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _TAIL_BYTES))
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    return _checked(lines[-1].decode("utf-8", "replace"), f"the last line of {path}") if lines else None


def read_anchors(path=None):
    """(anchors, retired) from the anchor file, each anchor checked against its MAC; ([], 0)
    if there is no file.

    Raises ``AnchorError`` naming the first line that does not parse or whose MAC is wrong
    (the file was edited). Lines made under a key generation the keyring no longer holds
    (``keys retire``) cannot be checked and are only counted in ``retired``: that loses
    nothing while a newer anchor exists, since an anchor pins every row up to its own.
    """
    path = Path(path or anchor_path())
    try:
        handle = open(path, encoding="utf-8", errors="replace")  # garbage reads as "not an anchor"
    except FileNotFoundError:
        return [], 0
    with handle:
        return _checked_lines(handle, path)


def _checked_lines(handle, path):
    anchors, retired = [], 0
    for number, raw in enumerate(handle, start=1):
        if raw.strip():
            anchor = _checked(raw, f"line {number} of {path}")
            if anchor is None:
                retired += 1
            else:
                anchors.append(anchor)
    return anchors, retired


def _checked(raw, where):
    """The ``Anchor`` on one line once its MAC is checked; None if its key generation is retired."""
    try:
        line = json.loads(raw)
        event_id, digest, at, key_id, mac = line["id"], line["hash"], line["at"], line["key"], line["mac"]
        int(event_id)
    except (ValueError, KeyError, TypeError):
        raise AnchorError(f"{where} is not an anchor (the file was edited or damaged)") from None
    try:
        expected = _mac(key_id, event_id, digest, at)
    except KeyringError:
        return None
    if not hmac.compare_digest(expected, str(mac)):
        raise AnchorError(f"{where} does not match its MAC (the anchor was edited or forged)")
    return Anchor(int(event_id), str(digest), at, where)


def parse_anchor(text):
    """``ID:HASH`` as the log line prints it (from an archived log), as an ``Anchor``."""
    event_id, sep, digest = text.strip().partition(":")
    digest = digest.lower()
    if not (sep and event_id.isdigit() and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise AnchorError(f"{text!r} is not an anchor: write ID:HASH as the log line 'audit anchor' prints it")
    return Anchor(int(event_id), digest, None, f"--anchor {event_id}")
