"""Shared fixtures: one app per session on the chosen backends, clean tables per test.

Backends: SQLite in a temporary file + an embedded Redis by default;
PostgreSQL and a real Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set
(CI sets both and, with CI=true, an unreachable server fails the run instead of
skipping). Tests commit for real (jobs are queued after commit, workers in other
processes read the rows), so isolation is by emptying every table after a test.
"""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from crm import create_app
from crm.extensions import db
from crm.redis_conn import get_redis, url_of
from crm.security.audit_anchor import anchor_path
from crm.security.crypto import crypto
from crm.security.keyring import Keyring, save_keyring

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _require(ok, what):
    if not ok:
        message = f"{what} is not reachable"
        if IN_CI:
            pytest.exit(f"CI needs {message}", returncode=3)
        pytest.exit(f"{message}: unset the TEST_* variable or start the server", returncode=3)


def _reset_postgres(url):
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except OperationalError:
        _require(False, f"PostgreSQL at {url}")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def backend_urls(tmp_path_factory):
    """(database url, redis url or '' for embedded) used by this test run."""
    tmp = tmp_path_factory.mktemp("backends")
    if TEST_DATABASE_URL:
        # Every connection of the run (this process, its workers and CLI commands) commits
        # without waiting for the disk: 8.6 -> 0.3 ms a commit. A crash of the server could
        # lose the last commits, and no test crashes it.
        os.environ["PGOPTIONS"] = f"{os.environ.get('PGOPTIONS', '')} -c synchronous_commit=off".strip()
        _reset_postgres(TEST_DATABASE_URL)
        database_url = TEST_DATABASE_URL
    else:
        database_url = f"sqlite:///{tmp / 'test.sqlite3'}"
    if TEST_REDIS_URL:
        try:
            redis_lib.Redis.from_url(TEST_REDIS_URL).ping()
        except redis_lib.RedisError:
            _require(False, f"Redis at {TEST_REDIS_URL}")
    return database_url, TEST_REDIS_URL


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def keyring_file(instance_dir):
    path = instance_dir / "keyring.json"
    save_keyring(Keyring.generate(), path)
    return path


@pytest.fixture(scope="session")
def app(backend_urls, instance_dir, keyring_file):
    """The one app of the test session, migrated with Alembic (not create_all)."""
    database_url, redis_url = backend_urls
    application = create_app(test_config={
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_DIR": str(instance_dir),
        "MUSTER_KEYRING": "",
        "MUSTER_KEYRING_FILE": str(keyring_file),
        "WTF_CSRF_ENABLED": True,
        "SERVER_NAME": "muster.test",
        # The access watch would count the route walk's refusals as probing and suspend its
        # personas: tests/integration/test_access_watch.py turns it on where it is tested.
        "ACCESS_DETECTION": False,
    })
    from tests.auth_helpers import FreshContextClient

    application.test_client_class = FreshContextClient
    with application.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_commit_without_fsync)
            db.engine.dispose()  # no pooled connection opened without it
        from flask_migrate import upgrade

        upgrade()
        from workers.context import use_app

        use_app(application)
        yield application
        db.session.remove()
        db.engine.dispose()
        if not redis_url:
            _stop_embedded_redis(application)


def _sqlite_commit_without_fsync(dbapi_connection, connection_record):
    """This process's SQLite connections: WAL's NORMAL sync (no fsync per commit, 6 -> 0.01 ms;
    still never corrupt, only the last commits could be lost in a power cut)."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _stop_embedded_redis(application):
    """Stop the session's embedded Redis: its folder is deleted with the tmp dir."""
    try:
        get_redis(application).shutdown(nosave=True)
    except redis_lib.RedisError:
        pass  # a server that shuts down drops the connection before it answers


@pytest.fixture(scope="session")
def redis_url(app):
    """A URL other processes can use for the same Redis database."""
    return url_of(get_redis(app))


@pytest.fixture(autouse=True)
def _clean_state(request, app, keyring_file):
    """Empty every table, our Redis database, and restore the session keyring."""
    original_keyring = keyring_file.read_text()
    yield
    db.session.remove()
    with db.engine.begin() as conn:
        for table in _tables_with_rows(conn):
            conn.execute(table.delete())
    get_redis(app).flushdb()
    anchor_path(app).unlink(missing_ok=True)  # its anchors name the audit rows just deleted
    if keyring_file.read_text() != original_keyring:
        keyring_file.write_text(original_keyring)
        keyring_file.chmod(0o600)
    crypto().reload()


def _tables_with_rows(conn):
    """The tables holding rows, children first: one query finds them, so a test pays a DELETE
    only for the tables it wrote (PostgreSQL: 26 ms for all 40 tables, 8 ms when none has rows)."""
    tables = list(reversed(db.metadata.sorted_tables))
    quote = conn.dialect.identifier_preparer.format_table
    probe = " UNION ALL ".join(f"SELECT {i} WHERE EXISTS (SELECT 1 FROM {quote(t)})" for i, t in enumerate(tables))
    found = {row[0] for row in conn.exec_driver_sql(probe)}
    return [table for i, table in enumerate(tables) if i in found]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def backend(app):
    """'postgresql' or 'sqlite'."""
    return db.engine.dialect.name


@pytest.fixture(scope="session")
def bytecode_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def subprocess_env(app, backend_urls, redis_url, keyring_file, instance_dir, bytecode_folder):
    """Environment for a worker or CLI in another process, on the same backends."""
    from tests.forkserver import cache_bytecode

    env = cache_bytecode(dict(os.environ), bytecode_folder)
    env.update({
        "DATABASE_URL": backend_urls[0],
        "REDIS_URL": redis_url,
        "MUSTER_KEYRING_FILE": str(keyring_file),
        "MUSTER_INSTANCE_DIR": str(instance_dir),
        "MUSTER_ENV": "development",
        "FLASK_APP": "wsgi",
        "PYTHONPATH": str(ROOT),
    })
    env.pop("MUSTER_KEYRING", None)
    return env


@pytest.fixture(scope="session")
def fork_server():
    """Starts the workers and CLI commands of ``run_worker``/``flask_cli``: each is a real
    process, forked from a parent that imported the libraries once (tests/forkserver.py).
    ``MUSTER_TEST_FORKSERVER=0`` starts each one from scratch instead."""
    if os.environ.get("MUSTER_TEST_FORKSERVER", "1") == "0":
        yield None
        return
    from tests.forkserver import ForkServer

    server = ForkServer(ROOT)
    yield server
    server.stop()


def run_process(fork_server, argv, env, timeout):
    """``subprocess.run`` of ``[python, *argv]`` (``-m module``) or ``argv`` (a script),
    output captured as text, through the fork server when there is one."""
    if fork_server is None:
        command = [sys.executable, *argv] if argv[0] == "-m" else list(argv)
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return fork_server.run(argv, env=env, cwd=ROOT, timeout=timeout)


@pytest.fixture
def run_worker(subprocess_env, fork_server):
    """Run ``python -m workers.worker --burst`` in a real process; return its output."""

    def run(*queues, timeout=120):
        result = run_process(fork_server, ["-m", "workers.worker", "--burst", *queues], subprocess_env, timeout)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout + result.stderr

    return run


@pytest.fixture
def captured_logs():
    """Every log record of the test, formatted, for leak scans."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def make_contact(app):
    """Factory: create and commit a contact through the service; returns the Contact."""
    from crm.services.contacts import ContactData, create_contact

    counter = {"n": 0}

    def make(full_name=None, **fields):
        counter["n"] += 1
        data = ContactData(full_name=full_name or f"Test Person {counter['n']}", **fields)
        result = create_contact(data)
        db.session.commit()
        return result.contact

    return make


@pytest.fixture
def make_user(app):
    """Factory: create and commit a staff account; returns (user, one-time password)."""
    from crm.services.users import create_user

    def make(login, role="staff", clearance=False):
        user, password = create_user(login, role, clearance)
        db.session.commit()
        return user, password

    return make


FLASK = str(Path(sys.executable).parent / "flask")


@pytest.fixture
def flask_cli(subprocess_env, fork_server):
    """Run the real ``flask crm ...`` CLI in another process; returns CompletedProcess.

    ``env`` overrides (a value of None removes the variable) let a test break one setting.
    """

    def run(*args, env=None, timeout=120):
        full_env = dict(subprocess_env)
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        return run_process(fork_server, [FLASK, "crm", *args], full_env, timeout)

    return run


@pytest.fixture
def start_worker(subprocess_env):
    """Start ``python -m workers.worker`` (not burst) in its own process group.

    Returns a function taking env overrides; the fixture kills what is still running.
    Its output goes to a file (``proc.output_path``) so a chatty worker never blocks.
    """
    import tempfile

    started = []

    def start(*queues, env=None):
        full_env = dict(subprocess_env, **(env or {}))
        output = tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False)
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.worker", *queues], cwd=ROOT, env=full_env,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
        proc.output_path = Path(output.name)
        output.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        kill_tree(proc.pid)
        proc.wait(timeout=30)
        proc.output_path.unlink(missing_ok=True)


def _children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_tree(pid):
    """SIGKILL a process and all its descendants (RQ's work-horse runs in its own session).

    The tree is frozen first (SIGSTOP, rescanned until nothing new appears): a worker
    killed between a scan and its own kill could otherwise fork one more work-horse, or
    a scheduler, that outlives the test and takes the next test's jobs.
    """
    import signal

    frozen = []
    todo = [pid]
    while todo:
        for target in todo:
            try:
                os.kill(target, signal.SIGSTOP)
                frozen.append(target)
            except ProcessLookupError:
                pass
        todo = [child for parent in frozen for child in _children(parent) if child not in frozen]
    for target in reversed(frozen):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


# Staff sign-in through the real forms (tests/auth_helpers.py).
@pytest.fixture
def login_as(app):
    """``login_as(client, user, password)``: sign in (forced password change and TOTP
    enrolment included) and return the client."""
    from tests.auth_helpers import login_as as sign_in

    return sign_in


@pytest.fixture
def signed_in(app, make_user, login_as):
    """Factory: ``signed_in(role, clearance=False)`` makes a user and returns a signed-in
    test client; ``client.user`` is the User, ``client.password`` its password."""
    counter = {"n": 0}

    def make(role="staff", clearance=False, login=None):
        counter["n"] += 1
        user, password = make_user(login or f"{role}-{counter['n']}", role=role, clearance=clearance)
        client = app.test_client()
        login_as(client, user, password)
        client.user = user
        return client

    return make


@pytest.fixture
def clock(monkeypatch):
    """The sessions' clock, moved by hand (``clock.advance(minutes=31)``): session
    timeouts, lockouts and TOTP steps without sleeping."""
    from tests.auth_helpers import install_clock

    return install_clock(monkeypatch)


# Mail: a real SMTP server on loopback (aiosmtpd), owned by the mail infrastructure.
class SmtpServer:
    """What the test's SMTP server received, and how it should answer next.

    ``messages``: every accepted message as an ``email.message.EmailMessage``.
    ``answer_data(*codes)``: answer the next DATA commands with these codes
    (e.g. ``answer_data(451, 451)``: two temporary failures, then 250 again).
    ``reject_rcpt[address] = 550``: refuse that recipient.
    """

    def __init__(self):
        import threading

        self.messages = []
        self.reject_rcpt = {}
        self._data_answers = []
        self._lock = threading.Lock()
        self.host, self.port = "127.0.0.1", None

    def answer_data(self, *codes):
        with self._lock:
            self._data_answers.extend(codes)

    def _next_data_answer(self):
        with self._lock:
            return self._data_answers.pop(0) if self._data_answers else 250

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.reject_rcpt.get(address)
        if code:
            return f"{code} mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        code = self._next_data_answer()
        if code != 250:
            return f"{code} try again later" if code < 500 else f"{code} rejected"
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def by_message_id(self):
        """Message-ID -> how many times it arrived."""
        from collections import Counter

        with self._lock:
            return Counter(m["Message-ID"] for m in self.messages)


@pytest.fixture
def smtp_server(app, subprocess_env):
    """A real SMTP server on 127.0.0.1 (random port); the app and the workers this test
    starts (``start_worker``/``run_worker``) send mail to it."""
    import socket

    from aiosmtpd.controller import Controller

    handler = SmtpServer()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        handler.port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port, ready_timeout=10,
                            data_size_limit=10 * 1024 * 1024)
    controller.start()
    # aiosmtpd logs every envelope it receives (addresses included) at DEBUG on "mail.log":
    # that is the test's own server talking, not the app, so it stays out of the leak scans.
    # setLevel, not an attribute write: it also clears logging's cached level checks.
    server_log = logging.getLogger("mail.log")
    server_log_level = server_log.level
    server_log.setLevel(logging.WARNING)
    settings = {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": handler.port,
                "MAIL_USE_STARTTLS": False, "MAIL_USE_SSL": False, "MAIL_USERNAME": "", "MAIL_PASSWORD": ""}
    saved = {name: app.config[name] for name in settings}
    app.config.update(settings)
    subprocess_env.update({name: str(value) if not isinstance(value, bool) else ""
                           for name, value in settings.items()})
    yield handler
    app.config.update(saved)
    controller.stop()
    server_log.setLevel(server_log_level)
