"""Preparing an import's records: parse, validate, seal and compute match tokens.

Everything here needs the keyring but not the database, so a long import does it in
a second process one batch ahead of the one that matches and writes (decision 0029):
on the two CPUs we run on, the reading, parsing, sealing and HMACs of the next batch
overlap the current batch's queries, inserts and commit. The child is a fork of the
importing process (it already holds the keys; nothing is serialised but the prepared
rows, through an anonymous pipe), never touches the database, and exits when its
parent does. A short import, a platform without ``fork`` or ``IMPORT_PIPELINE=0``
prepares in process: the same function, the same rows.
"""
import multiprocessing
import os
import pickle
import queue as queue_module
import signal
from dataclasses import dataclass

from flask import current_app

from ..errors import ServiceError
from ..extensions import db
from ..models.base import utcnow
from ..security import blind_index, normalize
from ..security.crypto import crypto
from .contacts import bind_contact_rows, contact_rows
from .import_reader import SheetError
from .import_rows import parse_row

AHEAD = 2  # prepared batches waiting at most (memory stays flat in the file size)
POLL_SECONDS = 1.0
FIRST_BATCH_FRACTION = 10  # the child's first batch is a tenth of the others


class PreparationFailed(ServiceError):
    """The preparing process stopped; the message names the error's class only (no content)."""


@dataclass(frozen=True)
class Preparation:
    """What preparing a record needs to know of its run."""

    mapping: dict
    region: str
    cleared: bool
    actor_id: object = None


def prepare(batch, settings):
    """The ``ParsedRow`` of each (record number, cells) in ``batch``, ready to match and create.

    A valid row carries its sealed ``ContactRows`` (used if it becomes a new contact) and
    its blind-index ``tokens`` under every key of the keyring: ``email`` and ``phone``
    as sets of (key id, token), ``name_word`` (only for a row matched by name and city)
    as one such set per word of the name.
    """
    now = utcnow()
    with normalize.remembered():
        rows = [parse_row(number, cells, settings.mapping, settings.region, settings.cleared)
                for number, cells in batch]
        for row in rows:
            if row.data is not None:
                row.rows = contact_rows(row.data, settings.actor_id, now)
                row.tokens = _tokens(row)
    valid = [row for row in rows if row.rows is not None]
    bound = bind_contact_rows([row.rows for row in valid], db.engine.dialect)
    for row, item in zip(valid, bound or ()):
        row.rows = item  # SQLite: its INSERT parameters, fewer objects to hand over (0030)
    return rows


def _tokens(row):
    indexer = crypto().indexer
    key_ids = indexer.keyring.ids()

    def tokens(spec, values):  # a tuple: unpickles faster than a set (decision 0031)
        return tuple({(key_id, indexer.token(spec, value, key_id)) for key_id in key_ids for value in values})

    found = {"email": tokens(blind_index.EMAIL, [row.email] if row.email else []),
             "phone": tokens(blind_index.PHONE, row.phones)}
    if row.matches_by_name:
        found["name_word"] = [tokens(blind_index.NAME_WORD, normalize.name_word_variants(word))
                              for word in normalize.name_words(row.data.full_name)]
    return found


def _chunks(records, size, first=None):
    """Lists of ``size`` records (the first of ``first``, if given)."""
    batch, limit = [], first or size
    for record in records:
        batch.append(record)
        if len(batch) >= limit:
            yield batch
            batch, limit = [], size
    if batch:
        yield batch


def prepared_batches(records, settings, batch_size, expected_rows):
    """Yield the prepared rows of ``records`` (an iterator of (number, cells)) batch by batch,
    from a second process when more than one batch is expected."""
    if expected_rows <= batch_size or not pipeline_enabled():
        for batch in _chunks(records, batch_size):
            yield prepare(batch, settings)
        return
    yield from _from_child(records, settings, batch_size)


def pipeline_enabled():
    return bool(current_app.config.get("IMPORT_PIPELINE", True)) and \
        "fork" in multiprocessing.get_all_start_methods()


def _from_child(records, settings, batch_size):
    context = multiprocessing.get_context("fork")
    channel = context.Queue(maxsize=AHEAD)
    child = context.Process(target=_produce, args=(records, settings, batch_size, channel, os.getpid()),
                            name="muster-import-prepare", daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                if not child.is_alive():
                    raise PreparationFailed(f"the preparing process ended (exit code {child.exitcode})") from None
                continue
            if kind == "batch":
                yield pickle.loads(payload)
            elif kind == "end":
                return
            elif kind == "sheet":
                raise SheetError(payload)
            else:
                raise PreparationFailed(f"preparing the rows failed ({payload})")
    finally:
        if child.is_alive():
            child.terminate()
        child.join(5)
        channel.close()
        channel.cancel_join_thread()


def _produce(records, settings, batch_size, channel, parent_pid):
    """The child: prepare batch after batch and hand them over; stop if the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not an inherited handler (an RQ work-horse's)

    def send(item):
        while True:
            try:
                channel.put(item, timeout=POLL_SECONDS)
                return
            except queue_module.Full:
                if os.getppid() != parent_pid:
                    os._exit(0)

    try:
        # A short first batch: the importer starts on it while the next full one is prepared.
        for batch in _chunks(records, batch_size, first=max(1, batch_size // FIRST_BATCH_FRACTION)):
            # Pickled here, not in the queue's feeder thread, which would print an error and
            # drop the batch: whatever cannot be handed over fails the import instead.
            send(("batch", pickle.dumps(prepare(batch, settings), pickle.HIGHEST_PROTOCOL)))
        send(("end", None))
    except SheetError as exc:  # its messages name the problem and a record number, never content
        send(("sheet", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent by class only: a message may quote the file
        send(("error", type(exc).__name__))
    channel.close()
    channel.join_thread()
