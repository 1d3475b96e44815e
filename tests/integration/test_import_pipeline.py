"""An import's rows prepared in a second process (decision 0029): the same outcomes as in
process, re-sealed rows after an in-batch merge, errors reported by class only, and a
preparing process that never outlives its parent."""
import io
import multiprocessing
import os
import threading
import time

import pytest
from sqlalchemy import func, select, text

from crm.extensions import db
from crm.models import Contact, ImportRow
from crm.services import import_batch, import_prepare, imports, lookup
from crm.services.import_reader import SheetError

BATCH = 4


@pytest.fixture(autouse=True)
def _import_settings(app):
    """The app is the session's: the settings these tests change are put back after each."""
    keys = ("IMPORT_PIPELINE", "IMPORT_WRITE_BEHIND", "IMPORT_SQLITE_CACHE_MB")
    saved = {key: app.config[key] for key in keys}
    yield
    app.config.update(saved)


def sheet(rows):
    """A sheet of ``rows`` people: every fifth repeats an earlier one, every seventh is broken."""
    lines = ["Name;Email;Phone;City;Path"]
    for n in range(rows):
        if n % 7 == 6:
            lines.append(f"Broken {n};not-an-email-{n};;;")
        elif n % 5 == 4:
            lines.append(f"Person {n - 2};PERSON{n - 2}@example.org;;Vilnius;wolontariat")
        else:
            lines.append(f"Person {n};person{n}@example.org;+48 600 100 {n:03d};Warszawa;volunteer")
    return ("\n".join(lines) + "\n").encode()


def queued_run(app, content, pipeline):
    """A run of ``content`` uploaded and configured (committed); its id."""
    app.config["IMPORT_PIPELINE"] = pipeline
    run = imports.upload(io.BytesIO(content), "sheet.csv", None)
    imports.configure(run, run.mapping)
    run_id = run.id
    db.session.commit()
    return run_id


def run_import(app, content, pipeline, batch=BATCH):
    run_id = queued_run(app, content, pipeline)
    for _ in imports.process(run_id, batch_size=batch, operator=True):
        db.session.commit()
    outcomes = [(r.record, r.outcome, r.reason) for r in db.session.scalars(
        select(ImportRow).where(ImportRow.import_id == run_id).order_by(ImportRow.record))]
    return imports.summary(imports.get_run(run_id)), outcomes


@pytest.fixture
def forks(monkeypatch):
    """How many imports prepared their rows in a child process."""
    calls = []
    original = import_prepare._from_child

    def counting(*args):
        calls.append(args)
        yield from original(*args)

    monkeypatch.setattr(import_prepare, "_from_child", counting)
    return calls


@pytest.mark.parametrize("write_behind", [False, True])
def test_a_child_prepares_the_same_outcomes_as_the_process_itself(app, forks, write_behind):
    content = sheet(40)
    app.config["IMPORT_WRITE_BEHIND"] = False
    in_process = run_import(app, content, pipeline=False)
    assert forks == []
    # Wipe and import again through the child (and a writer thread): the same rows, outcomes and reasons.
    for model in (ImportRow, Contact):
        db.session.execute(model.__table__.delete())
    db.session.commit()
    app.config["IMPORT_WRITE_BEHIND"] = write_behind
    piped = run_import(app, content, pipeline=True)
    assert len(forks) == 1
    assert piped == in_process
    summary = piped[0]
    # Broken: 6, 13, 20, 27, 34. Repeats: 4, 9, 14, 19, 24, 39 (29 repeats broken 27: a new person).
    assert summary == {"rows": 40, "created": 29, "merged": 0, "duplicates_in_file": 6, "rejected": 5}
    assert {c.email.casefold() for c in db.session.scalars(select(Contact))} == {
        f"person{n}@example.org" for n in range(40) if n % 7 != 6 and n % 5 != 4} | {"person27@example.org"}


def test_a_single_batch_is_prepared_in_process(app, forks):
    run_import(app, sheet(3), pipeline=True)
    assert forks == []


def test_a_row_filled_by_a_later_row_of_its_batch_is_sealed_and_indexed_again(app, forks):
    content = ("Name;Email;Phone\n"
               "Olga Lis;olga@example.org;\n"            # the child's short first batch (one row)
               "Jan Rak;;+48 600 100 200\n"
               "J. Rak;jan@example.org;0048600100200\n"   # same batch, same phone: brings the email
               "Ewa Nowak;ewa@example.org;\n"
               "Ales Bykau;ales@example.org;\n").encode()
    summary, _ = run_import(app, content, pipeline=True, batch=3)
    assert len(forks) == 1
    assert summary == {"rows": 5, "created": 4, "merged": 0, "duplicates_in_file": 1, "rejected": 0}
    found = lookup.find_by_email("JAN@example.org")
    assert [c.full_name for c in found] == ["Jan Rak"]
    assert found[0].phone == "+48600100200"


def test_an_error_in_the_child_names_its_class_only(app, forks, monkeypatch):
    def failing(record, *args):
        if record == 6:
            raise ValueError("Person 4 person4@example.org")  # what a careless message could hold
        return parse_row(record, *args)

    parse_row = import_prepare.parse_row
    monkeypatch.setattr(import_prepare, "parse_row", failing)
    with pytest.raises(import_prepare.PreparationFailed) as raised:
        run_import(app, sheet(20), pipeline=True)
    assert "ValueError" in str(raised.value) and "person4" not in str(raised.value).lower()
    db.session.rollback()
    assert len(forks) == 1


def test_a_batch_the_child_cannot_hand_over_fails_the_import_instead_of_vanishing(app, forks, monkeypatch):
    prepare = import_prepare.prepare

    def unpicklable(batch, settings):
        rows = prepare(batch, settings)
        if any(row.record == 6 for row in rows):
            rows[0].tokens = {"email": lambda: None}  # what pickle refuses
        return rows

    monkeypatch.setattr(import_prepare, "prepare", unpicklable)
    with pytest.raises(import_prepare.PreparationFailed, match="PicklingError|AttributeError|TypeError"):
        run_import(app, sheet(20), pipeline=True)
    db.session.rollback()
    assert len(forks) == 1


def test_a_sheet_error_in_the_child_keeps_its_message(app, monkeypatch):
    def records():
        yield from ((n, [f"Person {n}", f"p{n}@example.org"]) for n in range(1, 6))
        raise SheetError("the file is not well-formed CSV near record 6: an unclosed quote")

    settings = import_prepare.Preparation({"0": "full_name", "1": "email"}, "PL", True)
    batches = import_prepare.prepared_batches(records(), settings, 2, expected_rows=10)
    assert [row.record for row in next(batches)] == [1]  # a short first batch, then batches of 2
    assert [row.record for row in next(batches)] == [2, 3]
    with pytest.raises(SheetError, match="near record 6"):
        list(batches)


def _orphaning_parent(report):
    """Start preparing an endless sheet, report the child's pid, and die without cleaning up."""
    def endless():
        n = 0
        while True:
            n += 1
            yield n, [f"Person {n}", f"p{n}@example.org"]

    settings = import_prepare.Preparation({"0": "full_name", "1": "email"}, "PL", True)
    batches = import_prepare.prepared_batches(endless(), settings, 2, expected_rows=10 ** 6)
    next(batches)
    report.send(multiprocessing.active_children()[0].pid)
    os._exit(0)


def _gone(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\nState:\tZ" in status.read()
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.exists("/proc"), reason="reads /proc to see the orphan")
def test_the_preparing_process_does_not_outlive_its_parent(app):
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    parent = multiprocessing.get_context("fork").Process(target=_orphaning_parent, args=(send,))
    parent.start()
    assert receive.poll(30)
    child_pid = receive.recv()
    parent.join(10)
    deadline = time.monotonic() + 3 * import_prepare.POLL_SECONDS + 5
    while not _gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(child_pid)


@pytest.mark.parametrize("write_behind", [False, True])
def test_an_import_batch_on_sqlite_gets_the_configured_page_cache_and_checkpoint_interval(
        app, monkeypatch, write_behind):
    """Decision 0030: the batch's connection may cache IMPORT_SQLITE_CACHE_MB of pages and
    checkpoints less often until the import finishes; with a writer thread (0032), its own."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite connection setting")
    app.config["IMPORT_SQLITE_CACHE_MB"] = 3
    app.config["IMPORT_WRITE_BEHIND"] = write_behind
    run_id = queued_run(app, sheet(6), pipeline=False)
    writes, settings = [], []
    real_write, real_settings = imports._write, imports._sqlite_settings

    def write(*args):
        writes.append((threading.get_ident(), db.session.execute(text("PRAGMA cache_size")).scalar(),
                       db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar()))
        return real_write(*args)

    def sqlite_settings(importing):
        settings.append((threading.get_ident(), importing))
        return real_settings(importing)

    monkeypatch.setattr(imports, "_write", write)
    monkeypatch.setattr(imports, "_sqlite_settings", sqlite_settings)
    seen = []
    for run in imports.process(run_id, batch_size=BATCH, operator=True):
        seen.append(run.status)
        db.session.commit()
    assert seen == ["running", "running", "done"]
    assert [w[1:] for w in writes] == [(-3 * 1024, imports.IMPORT_SQLITE_CHECKPOINT_PAGES)] * 2
    assert {w[0] for w in writes} != {threading.get_ident()} if write_behind else {threading.get_ident()}
    # Each thread that wrote sets its connection back at the end: the import's last commit checkpoints.
    last = {}
    for thread, importing in settings:
        last[thread] = importing
    assert len(last) == (2 if write_behind else 1) and not any(last.values())


def test_the_child_starts_with_a_short_batch():
    """The importer starts on a tenth of a batch while the child prepares the next full one."""
    assert [len(batch) for batch in import_prepare._chunks(iter(range(25)), 10, first=1)] == [1, 10, 10, 4]
    assert [len(batch) for batch in import_prepare._chunks(iter(range(25)), 10)] == [10, 10, 5]


def test_an_import_collects_garbage_less_often_and_puts_the_collector_back(app):
    """Decision 0030: rare collections while importing; the process's settings afterwards."""
    import gc

    before = gc.get_threshold()
    run_id = queued_run(app, sheet(6), pipeline=False)
    during = []
    for _ in imports.process(run_id, batch_size=BATCH, operator=True):
        during.append((gc.get_threshold(), gc.get_freeze_count() > 0))
        db.session.commit()
    assert during and set(during) == {(imports.IMPORT_GC_THRESHOLDS, True)}
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_prepared_rows_cross_to_the_importer_unchanged(app):
    """What the child pickles (positional rows, bound parameters, token tuples: decision 0031)
    is what the importer unpickles, field for field."""
    import pickle
    import uuid

    run = imports.get_run(queued_run(app, sheet(12), pipeline=True))
    settings = import_prepare.Preparation(run.mapping, run.region, True)
    records = [(n, line.split(";")) for n, line in enumerate(sheet(12).decode().splitlines()[1:], start=2)]
    prepared = import_prepare.prepare(records, settings)
    assert {row.reason is None for row in prepared} == {True, False}  # valid and rejected rows both cross
    crossed = pickle.loads(pickle.dumps(prepared, pickle.HIGHEST_PROTOCOL))
    assert crossed == prepared
    valid = [row for row in crossed if row.rows is not None]
    assert valid and all(isinstance(row.rows.id, uuid.UUID) for row in valid)
    assert all(isinstance(row.tokens["email"], tuple) for row in valid)


def test_a_batch_matches_what_the_batch_before_brought_while_it_is_written(app, make_contact):
    """Decision 0032: batch N+1 is matched while batch N is written; N's new contacts and the
    keys its rows brought to known contacts are matched from memory, with the same outcomes."""
    make_contact("Olga Lis", email="olga@example.org")
    content = ("Name;Email;Phone;City\n"
               "Jan Rak;jan@example.org;;Gdańsk\n"          # the child's short first batch
               "Ewa Nowak;ewa@example.org;;\n"
               "Olga Lis;olga@example.org;+48 600 100 300;\n"  # brings a phone to a known contact
               "Ales Bykau;;;Vilnius\n"
               "E. Nowak;EWA@example.org;;\n"                # next batch: the row before's new contact
               "O. Lis;;0048600100300;\n"                     # the phone the batch before brought
               "Ales Bykau;;;Vilnius\n"                       # by name and city
               "Piotr Wolski;piotr@example.org;;\n").encode()
    outcomes = {}
    for write_behind in (False, True):
        app.config["IMPORT_WRITE_BEHIND"] = write_behind
        for model in (ImportRow,):
            db.session.execute(model.__table__.delete())
        db.session.execute(Contact.__table__.delete().where(Contact.id.not_in(
            select(Contact.id).order_by(Contact.created_at).limit(1))))
        db.session.commit()
        summary, rows = run_import(app, content, pipeline=True, batch=4)
        outcomes[write_behind] = (summary, [outcome for _, outcome, _ in rows])
    assert outcomes[True] == outcomes[False]
    summary, rows = outcomes[True]
    assert rows == ["created", "created", "merged", "created", "duplicate", "merged", "duplicate", "created"]
    assert summary == {"rows": 8, "created": 4, "merged": 2, "duplicates_in_file": 2, "rejected": 0}
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 5


def test_an_error_in_the_writer_fails_the_import_and_keeps_the_batches_committed_before(app, monkeypatch):
    app.config["IMPORT_WRITE_BEHIND"] = True
    run_id = queued_run(app, sheet(20), pipeline=True)
    real_write, calls = import_batch.write, []

    def failing(run, plan, user):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise RuntimeError("the disk is full")
        return real_write(run, plan, user)

    monkeypatch.setattr(import_batch, "write", failing)
    threads = threading.active_count()
    with pytest.raises(RuntimeError, match="the disk is full"):
        for _ in imports.process(run_id, batch_size=BATCH, operator=True):
            db.session.commit()
    db.session.rollback()
    assert set(calls) == {"muster-import-writer"}
    assert threading.active_count() == threads  # the writer has stopped
    run = imports.get_run(run_id)
    written = db.session.scalar(select(func.count()).select_from(ImportRow).where(ImportRow.import_id == run_id))
    assert run.done == written == 1 + BATCH  # the short first batch and one full one
    assert run.cursor == 1 + BATCH + 1  # the header is record 1


def test_a_batch_carries_only_its_own_keys_to_the_next(app, monkeypatch):
    """Memory stays flat: what a batch hands on is what its own rows brought, not the batches'
    before it (those are committed and matched from the database)."""
    real_decide, carried = import_batch.decide, []

    def deciding(*args, **kwargs):
        plan = real_decide(*args, **kwargs)
        carried.append(plan.carried)
        return plan

    monkeypatch.setattr(import_batch, "decide", deciding)
    app.config["IMPORT_WRITE_BEHIND"] = True
    run_import(app, sheet(40), pipeline=True)
    assert len(carried) > 5
    for handed in carried:
        assert len(handed.created) <= BATCH and len(handed.keys[import_batch.NAMES]) <= BATCH
        assert len(handed.keys) - 1 <= 2 * BATCH  # an email and a phone per row at most
