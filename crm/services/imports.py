"""Importing sign-up sheets: upload, map columns, run in batches, report per row.

The flow: ``upload`` stores the file encrypted (``crm.services.files``) and reads
it through once, so a malformed file is refused before anything is imported and
the progress bar knows its total; ``configure`` records the column mapping and
queues the job (its only argument is the import id); ``process`` works batch by
batch (each read, validated and sealed ahead by ``import_prepare``, in a second
process for a long import) and yields after each, so the caller (job or CLI) commits the contacts, the
per-row outcomes and the cursor together: a killed worker resumes at the last
committed record and a replayed batch adds nothing. ``finish`` writes the
rejected rows to an encrypted, expiring CSV.
"""
import contextvars
import csv
import gc
import hashlib
import hmac
import io
import queue
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, text

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..jobs import enqueue, job_is_live
from ..models import ImportRun, Meeting
from ..models.base import utcnow
from ..models.bulk import among, insert_rows
from ..models.imports import ImportRow
from ..security import audit, normalize, permissions
from ..security.crypto import crypto
from ..security.keyring import derive_key
from . import duplicate_pairs, files, import_batch, lockdown, signals
from .import_prepare import Preparation, prepared_batches
from .import_reader import FIELDS, Sheet, SheetError, guess_mapping

UPLOAD_TTL = timedelta(days=2)
REJECTS_TTL = timedelta(days=7)
PREVIEW_ROWS = 5
JOB_TIMEOUT = 6 * 3600


class ImportProblem(ServiceError):
    """The file or the mapping cannot be imported; the message says why (no content)."""


# -- upload -----------------------------------------------------------------------------

class _Hashing:
    """Passes chunks through while computing the keyed MAC of the whole content."""

    def __init__(self, source):
        self.source = source
        key = derive_key(crypto().keyring.active.idx_root, "muster:import:file:v1")
        self.mac = hmac.new(key, digestmod=hashlib.sha256)

    def __iter__(self):
        while chunk := self.source.read(256 * 1024):
            self.mac.update(chunk)
            yield chunk


def upload(source, filename, owner, max_bytes=None, encoding="auto"):
    """Store ``source`` (a binary file object) encrypted and check it reads as a sheet."""
    lockdown.refuse_if_active("import.upload", error=ImportProblem)
    max_bytes = max_bytes or current_app.config["IMPORT_MAX_BYTES"]
    hashing = _Hashing(source)
    try:
        stored = files.store(hashing, "import_upload", owner.id if owner else None, UPLOAD_TTL,
                             content_type="sheet", max_bytes=max_bytes)
    except files.FileTooLarge:
        raise ImportProblem(f"the file is larger than {max_bytes // (1024 * 1024)} MB") from None
    run = ImportRun(id=uuid.uuid4(), owner_id=owner.id if owner else None, file_id=stored.id,
                    content_mac=hashing.mac.hexdigest(), region=crypto().phone_region)
    try:
        with files.open_stored(stored.id) as stream:
            sheet = Sheet.open(stream, filename, encoding)
            run.kind, run.encoding, run.delimiter = sheet.kind, sheet.encoding, sheet.delimiter
            header, total, columns = None, 0, 0
            for _, cells in sheet.records():
                header = cells if header is None else header
                total += 1
                columns = max(columns, len(cells))
    except (SheetError, files.FileIntegrityError) as exc:
        files.path_of(stored.id).unlink(missing_ok=True)
        raise ImportProblem(str(exc)) from None
    if total == 0:
        files.path_of(stored.id).unlink(missing_ok=True)
        raise ImportProblem("the file is empty")
    guessed = guess_mapping(header)
    run.has_header = bool(guessed)
    run.total = total - 1 if run.has_header else total
    run.columns = columns
    run.mapping = {str(k): v for k, v in guessed.items()}
    if run.total == 0:
        files.path_of(stored.id).unlink(missing_ok=True)
        raise ImportProblem("the file has a header but no rows")
    db.session.add(run)
    db.session.flush()
    audit.record("import.upload", "import", run.id, kind=run.kind, rows=run.total, columns=columns,
                 same_file_before=_same_file_count(run))
    return run


def _same_file_count(run):
    return db.session.scalar(select(db.func.count()).select_from(ImportRun).where(
        ImportRun.content_mac == run.content_mac, ImportRun.id != run.id))


def get_run(import_id, user=None):
    """The import, or NotFound (also for a malformed id, or another coordinator's import)."""
    try:
        run = db.session.get(ImportRun, uuid.UUID(str(import_id)))
    except ValueError:
        run = None
    if run is None or (user is not None and run.owner_id != user.id and user.role != "admin"):
        raise NotFound("no such import")
    return run


def preview(run, rows=PREVIEW_ROWS):
    """(header cells or None, the first ``rows`` records) for the mapping screen (audited)."""
    header, body = None, []
    with files.open_stored(run.file_id) as stream:
        sheet = Sheet(stream, run.kind, run.encoding, run.delimiter)
        for _, cells in sheet.records():
            if header is None and run.has_header:
                header = cells
                continue
            body.append(cells)
            if len(body) >= rows:
                break
    audit.record("import.preview", "import", run.id, rows=len(body))
    return header, body


# -- configure and queue ----------------------------------------------------------------------

def configure(run, mapping, meeting_id=None, region=None, has_header=None):
    """Check and record the column mapping, the meeting and the phone region (no queueing)."""
    if run.status != "uploaded":
        raise ImportProblem("this import has already been started")
    clean = {}
    for index, name in (mapping or {}).items():
        if not name:
            continue
        if name not in FIELDS or not 0 <= int(index) < max(run.columns, 1):
            raise ImportProblem("the column mapping names an unknown field or column")
        if name in clean.values():
            raise ImportProblem(f"two columns are mapped to {name}")
        clean[str(int(index))] = name
    fields = set(clean.values())
    if not fields & {"full_name", "first_name", "last_name"}:
        raise ImportProblem("map a column to the name (full name, or first and last name)")
    if "full_name" in fields and fields & {"first_name", "last_name"}:
        raise ImportProblem("map either the full name or first and last name, not both")
    if region:
        region = region.upper()
        import phonenumbers

        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ImportProblem(f"{region} is not a phone region (use a two-letter country code)")
        run.region = region
    if meeting_id:
        try:
            meeting = db.session.get(Meeting, uuid.UUID(str(meeting_id)))
        except ValueError:
            meeting = None
        if meeting is None:
            raise ImportProblem("no such meeting")
        run.meeting_id = meeting.id
    if has_header is not None and has_header != run.has_header:
        run.total += -1 if has_header else 1
        run.has_header = has_header
    run.mapping = clean
    db.session.flush()
    return run


def start(run):
    """Queue the import job (after commit) unless one is live; return the new job id or None."""
    lockdown.refuse_if_active("import.start", error=ImportProblem)
    if run.status == "uploaded":
        run.status = "queued"
        audit.record("import.start", "import", run.id, rows=run.total, meeting=str(run.meeting_id or ""),
                     fields=sorted(run.mapping.values()))
    queued = None
    if run.status in ("queued", "running") and not job_is_live(run.job_id):
        run.job_id = queued = f"import-{run.id.hex[:12]}-{uuid.uuid4().hex[:8]}"
        enqueue("workers.jobs.run_import", run.id, job_id=run.job_id, retries=0, timeout=JOB_TIMEOUT)
    db.session.flush()
    return queued


# -- processing ------------------------------------------------------------------------------

def _actor(run):
    from ..models import User

    return db.session.get(User, run.owner_id) if run.owner_id else None


def process(import_id, batch_size=None, operator=None):
    """Import the remaining records batch by batch; yield the run after each flushed batch.

    The caller commits after each yield (with a writer thread, decision 0032, the batch is
    already committed when the run is yielded). An ``operator`` import (``flask crm import``:
    a run without an owner) imports as nobody in particular: every contact is
    matched and restricted paths are allowed; a wizard import acts as its owner.
    """
    batch_size = batch_size or current_app.config["IMPORT_BATCH"]
    run = get_run(import_id)
    if run.status == "done":
        return
    if lockdown.current() is not None:
        return  # paused: the run stays queued and lifting the lockdown queues it again
    operator = run.owner_id is None if operator is None else operator
    user = None if operator else _actor(run)
    if not operator and (user is None or not permissions.can(user, "imports.run")):
        raise ServiceError("the import's owner may no longer import")
    cleared = operator or permissions.has_clearance(user)
    if run.status != "running":
        run.status, run.started_at = "running", run.started_at or utcnow()
    settings = Preparation(run.mapping, run.region, cleared, user.id if user else None)
    with _few_collections(), files.open_stored(run.file_id) as stream:
        sheet = Sheet(stream, run.kind, run.encoding, run.delimiter)
        expected = run.total - run.done
        batches = iter(prepared_batches(_remaining(run, sheet.records()), settings, batch_size, expected))
        if expected > batch_size and write_behind_enabled():
            yield from _written_behind(run, batches, user)
        else:
            carried = None
            for rows in batches:
                _refresh_statistics()
                _sqlite_settings(importing=True)
                first, last, plan = _decide(run, rows, user, carried)
                _write(run, first, last, plan, user)
                carried = plan.carried
                yield run
        finish(run)
        yield run


def write_behind_enabled():
    """``IMPORT_WRITE_BEHIND``: "auto" (the default) writes behind on PostgreSQL only.

    SQLite keeps a page cache per connection and empties it whenever another connection
    has committed, so a second connection for the writer made every batch's matching
    read the indexes again: slower than one connection (decision 0032)."""
    setting = current_app.config.get("IMPORT_WRITE_BEHIND", "auto")
    if setting == "auto":
        return db.session.get_bind().dialect.name == "postgresql"
    return bool(setting)


def _written_behind(run, batches, user):
    """Decide batch N+1 while a thread writes and commits batch N on its own connection
    (decision 0032); yield the run after each batch is committed. Commits the run's status
    first: the writer updates the same row."""
    rows = next(batches, None)  # the preparing process forks here, before the writer thread starts
    db.session.commit()
    writer = _Writer(current_app._get_current_object(), run.id, user.id if user else None)
    carried = None
    try:
        while rows is not None:
            first, last, plan = _decide(run, rows, user, carried)
            db.session.rollback()  # ends the read: the next batch's queries see what the writer committed
            if writer.wait():
                yield run
            writer.submit(first, last, plan)
            carried = plan.carried
            rows = next(batches, None)
        if writer.wait():
            yield run
    finally:
        writer.close()


class _Writer:
    """A thread that writes and commits decided batches one at a time, in its own app context
    (so its own session and connection) and with the caller's audit context."""

    def __init__(self, app, run_id, user_id):
        self._jobs, self._results, self._busy = queue.Queue(maxsize=1), queue.Queue(), False
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._serve, app, run_id, user_id),
                                        name="muster-import-writer", daemon=True)
        self._thread.start()

    def submit(self, first, last, plan):
        self._jobs.put((first, last, plan))
        self._busy = True

    def wait(self):
        """Wait for the batch in flight; True once it is committed, its error raised here."""
        if not self._busy:
            return False
        self._busy = False
        error = self._results.get()
        if error is not None:
            raise error
        return True

    def close(self):
        """Let the batch in flight finish (committed, or rolled back on its error) and stop."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _serve(self, app, run_id, user_id):
        from ..models import User

        with app.app_context():
            try:
                while (job := self._jobs.get()) is not None:
                    try:
                        run = db.session.get(ImportRun, run_id)
                        _refresh_statistics()
                        _sqlite_settings(importing=True)
                        _write(run, *job, db.session.get(User, user_id) if user_id else None)
                        db.session.commit()
                    except BaseException as exc:  # handed to the importer, which raises it
                        db.session.rollback()
                        self._results.put(exc)
                        return
                    self._results.put(None)
            finally:
                _sqlite_settings(importing=False)  # this connection's checkpoints as before
                db.session.commit()
                db.session.remove()


# CPython collects its youngest generation every 700 new container objects and the oldest
# when it has grown by a quarter. An import batch makes hundreds of thousands (prepared
# rows, parameters, ORM rows), nearly all acyclic and alive until the commit, so with
# those thresholds the collector walked the same live rows again and again: a quarter of
# the import's CPU at 100,000 rows (docs/decisions/0030-import-batches-and-collector.md).
IMPORT_GC_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def _few_collections():
    """Collect less often while importing; what was alive before is left out of every
    collection (``gc.freeze``, inherited by the preparing process). Restored afterwards."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*IMPORT_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _remaining(run, records):
    """The records after the header and after the last committed batch (``run.cursor``)."""
    header_pending, cursor = run.has_header, run.cursor
    for number, cells in records:
        if header_pending:
            header_pending = False
        elif number > cursor:
            yield number, cells


# Tables the matching and the pairs job look up by index. An import into a young table
# (or a large import) outgrows the statistics PostgreSQL planned with: at 30,000 rows it
# still believed contact_index held a few rows and scanned a whole field's index range
# for every batch's tokens (docs/performance.md, import, fourth session).
STATISTICS_TABLES = ("contact_index", "contact", "import_row")


# Between two checkpoints an import's SQLite connection lets the write-ahead log grow to
# this many pages (160 MB) instead of 1,000: each batch rewrites most pages of the
# random-keyed indexes, and a page written by several batches is copied back once.
IMPORT_SQLITE_CHECKPOINT_PAGES = 40_000
SQLITE_CHECKPOINT_PAGES = 1000  # SQLite's default


def _sqlite_settings(importing):
    """SQLite: the batch connection's page cache and checkpoint interval (decision 0030).

    A batch adds rows all over the blind-index and id indexes. With SQLite's default 2 MB
    cache their pages are written out and read back many times within the batch; with
    ``IMPORT_SQLITE_CACHE_MB`` each is written once, at the commit. ``importing=False``
    puts the checkpoint interval back, so the import's last commit checkpoints. Limits,
    not allocations; the work-horse that runs an import exits after its job.
    """
    if db.session.get_bind().dialect.name != "sqlite":
        return
    if importing:
        kib = int(current_app.config["IMPORT_SQLITE_CACHE_MB"]) * 1024
        db.session.execute(text(f"PRAGMA cache_size=-{kib}"))
        db.session.execute(text(f"PRAGMA wal_autocheckpoint={IMPORT_SQLITE_CHECKPOINT_PAGES}"))
    else:
        db.session.execute(text(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}"))


def _refresh_statistics():
    """PostgreSQL: ANALYZE the looked-up tables that changed by more than half since their last
    ANALYZE (and over 1,000 rows); a no-op for an import small against the table, and on SQLite."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    stale = db.session.scalars(text(
        "SELECT c.relname FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE c.oid = ANY(ARRAY[to_regclass('contact_index'), to_regclass('contact'), to_regclass('import_row')]) "
        "AND s.n_mod_since_analyze > greatest(c.reltuples, 0) / 2 + 1000")).all()
    quote = db.session.get_bind().dialect.identifier_preparer.quote
    for name in stale:
        if name in STATISTICS_TABLES:
            db.session.execute(text(f"ANALYZE {quote(name)}"))


def _decide(run, batch, user, carried):
    """(first record, last record, ``import_batch.Plan``) of ``batch``; reads only."""
    done_before = set(db.session.scalars(select(ImportRow.record).where(
        ImportRow.import_id == run.id, among(db.session, ImportRow.record, [row.record for row in batch]))))
    with normalize.remembered():
        plan = import_batch.decide(run, [row for row in batch if row.record not in done_before], user, carried)
    return batch[0].record, batch[-1].record, plan


def _write(run, first, last, plan, user):
    """Write a decided batch with its outcomes, counts and cursor (the caller commits)."""
    import_batch.write(run, plan, user)
    outcomes = plan.outcomes
    counts = {"created": 0, "merged": 0, "duplicate": 0, "rejected": 0}
    for outcome in outcomes:
        counts[outcome["outcome"]] += 1
    insert_rows(db.session, ImportRow.__table__, outcomes)
    run.created += counts["created"]
    run.merged += counts["merged"]
    run.duplicates += counts["duplicate"]
    run.rejected += counts["rejected"]
    run.done += len(outcomes)
    run.cursor = last
    db.session.flush()
    if outcomes:  # the signal checks of this batch's contacts, in a job of their own (decision 0022)
        enqueue(signals.IMPORT_SCAN_JOB, run.id, first, last, queue="default")
        # The created contacts' duplicate pairs too: recording them here cost more than the matching (0025).
        enqueue(duplicate_pairs.IMPORT_PAIRS_JOB, run.id, first, last, queue="default")


# -- finishing, summaries, rejects ---------------------------------------------------------

def finish(run):
    """Mark the run done, write the rejects file, and drop the uploaded file."""
    _sqlite_settings(importing=False)
    if run.rejected and run.rejects_file_id is None:
        run.rejects_file_id = _write_rejects(run).id
    run.status, run.finished_at = "done", utcnow()
    if run.file_id is not None:
        upload_id, run.file_id = run.file_id, None
        db.session.flush()
        files.delete(upload_id)
    audit.record("import.done", "import", run.id, **summary(run))
    db.session.flush()


def _write_rejects(run):
    reasons = dict(db.session.execute(select(ImportRow.record, ImportRow.reason).where(
        ImportRow.import_id == run.id, ImportRow.outcome == "rejected")).all())
    with files.open_stored(run.file_id) as stream, \
            files.store_writer("import_rejects", run.owner_id, REJECTS_TTL, content_type="csv") as sink:
        sheet = Sheet(stream, run.kind, run.encoding, run.delimiter)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        sink.write("\ufeff".encode())
        header_pending = run.has_header
        for number, cells in sheet.records():
            if header_pending:
                header_pending = False
                writer.writerow(["record", "reason", *cells])
            elif number in reasons:
                writer.writerow([number, reasons[number], *cells])
            else:
                continue
            sink.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    return sink.stored


def summary(run):
    """The counts of a run: rows = created + merged + duplicates_in_file + rejected."""
    return {"rows": run.created + run.merged + run.duplicates + run.rejected, "created": run.created,
            "merged": run.merged, "duplicates_in_file": run.duplicates, "rejected": run.rejected}


def open_rejects(run, user):
    """The rejected rows CSV as a stream (audited)."""
    if run.rejects_file_id is None:
        raise NotFound("no rejected rows file")
    lockdown.refuse_if_active("import.rejects_download")
    stream = files.open_stored(run.rejects_file_id)
    stored = files.get(run.rejects_file_id)
    stored.downloaded_at = utcnow()
    audit.record("import.rejects_download", "import", run.id, rows=run.rejected)
    return stream


def mark_failed(import_id, exc):
    """Record that a run stopped on an error (its class only: a message may quote the file)."""
    run = get_run(import_id)
    if run.status != "done":
        run.status, run.error = "failed", type(exc).__name__
        audit.record("import.failed", "import", run.id, error=run.error, done=run.done)
        db.session.flush()


def resumable():
    """Imports that were started and never finished (a reconciler or an operator queues them)."""
    return db.session.scalars(select(ImportRun).where(ImportRun.status.in_(("queued", "running")))).all()
