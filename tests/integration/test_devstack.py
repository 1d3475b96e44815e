"""``make run``'s pieces: ``flask crm bootstrap`` and the ``workers.devstack`` supervisor.

The supervisor runs for real: its own SQLite and embedded Redis in a temporary
instance folder, gunicorn on a free loopback port, a worker and cron, then a
signal or a dying child. Waits are bounded loops on observable state, not timing.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Contact, User
from tests.conftest import ROOT

START_LIMIT = 180  # seconds: generous, for a loaded machine; never asserted on


def bootstrap(runner, *args):
    result = runner.invoke(args=["crm", "bootstrap", *args])
    db.session.expire_all()
    return result


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_bootstrap_creates_the_admin_and_demo_data_once(runner):
    first = bootstrap(runner, "--demo-contacts", "5")
    assert first.exit_code == 0, first.output
    assert "already exists; nothing changed" in first.output  # the session's key file is kept
    assert "key 1: active" in first.output
    assert "Created admin 'admin'" in first.output
    lines = first.output.splitlines()
    password = lines[next(i for i, line in enumerate(lines) if "One-time password" in line) + 1]
    assert len(password) >= 16
    admin = db.session.scalar(select(User).where(User.login == "admin"))
    assert admin.role == "admin" and admin.must_change_password
    assert count(Contact) == 5

    again = bootstrap(runner, "--demo-contacts", "5")
    assert again.exit_code == 0, again.output
    assert "none created" in again.output and "no demo data added" in again.output
    assert password not in again.output
    assert count(User) == 1 and count(Contact) == 5


def test_bootstrap_skips_demo_data_when_asked(runner):
    result = bootstrap(runner, "--demo-contacts", "0")
    assert result.exit_code == 0, result.output
    assert count(User) == 1 and count(Contact) == 0


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def stack_instance(tmp_path_factory):
    return tmp_path_factory.mktemp("devstack")


def _stack_env(instance, port):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "MUSTER_KEYRING", "MUSTER_KEYRING_FILE", "SECRET_KEY")}
    env.update(MUSTER_ENV="development", MUSTER_INSTANCE_DIR=str(instance), PORT=str(port),
               PYTHONPATH=str(ROOT))
    return env


class Stack:
    """A running ``python -m workers.devstack`` and its output file."""

    def __init__(self, instance):
        self.instance = instance
        self.port = _free_port()
        self.log = instance / f"devstack-{self.port}.log"
        self.handle = open(self.log, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "workers.devstack"], cwd=ROOT,
                                        env=_stack_env(instance, self.port), stdin=subprocess.DEVNULL,
                                        stdout=self.handle, stderr=subprocess.STDOUT)

    def output(self):
        return self.log.read_text()

    def wait_until_running(self):
        deadline = time.monotonic() + START_LIMIT
        while "Muster is running" not in self.output():
            assert self.process.poll() is None, self.output()[-3000:]
            assert time.monotonic() < deadline, self.output()[-3000:]
            time.sleep(0.2)

    def everything(self):
        """Every process the stack runs: services, their children, the embedded Redis."""
        services = list(self.services().values())
        redis_dir = str(self.instance / "redis")
        embedded = [p for p in psutil.process_iter(["name", "cwd"])
                    if p.info["name"] == "redis-server" and p.info["cwd"] == redis_dir]
        assert len(embedded) == 1
        return [*services, *(c for s in services for c in s.children(recursive=True)), *embedded]

    def services(self):
        """The supervisor's direct children by role (web, worker, cron)."""
        found = {}
        for child in psutil.Process(self.process.pid).children():
            line = " ".join(child.cmdline())
            role = ("web" if "gunicorn" in line else "worker" if "workers.worker" in line
                    else "cron" if "workers.cron" in line else None)
            if role:
                found[role] = child
        return found

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.status, response.read()

    def wait_for_exit(self):
        try:
            return self.process.wait(timeout=120)
        finally:
            self.handle.close()

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.wait_for_exit()


@pytest.fixture
def stack(stack_instance):
    started = Stack(stack_instance)
    yield started
    started.kill()


def _all_gone(processes):
    _, alive = psutil.wait_procs(processes, timeout=60)
    return not alive


def test_devstack_serves_web_worker_and_cron_and_stops_on_sigint(stack):
    stack.wait_until_running()
    services = stack.services()
    assert set(services) == {"web", "worker", "cron"}
    status, body = stack.get("/healthz")
    assert status == 200 and json.loads(body)["checks"] == {"database": "ok", "redis": "ok"}
    assert stack.get("/")[0] == 200
    tree = stack.everything()

    stack.process.send_signal(signal.SIGINT)
    assert stack.wait_for_exit() == 0, stack.output()[-3000:]
    assert _all_gone(tree)
    assert "SIGINT received" in stack.output() and "devstack: stopped." in stack.output()


def test_a_dying_worker_stops_the_others_with_one_line(stack):
    stack.wait_until_running()
    tree = stack.everything()
    stack.services()["worker"].kill()
    assert stack.wait_for_exit() == 1
    assert _all_gone(tree)  # the worker's own scheduler process and Redis too
    assert "the worker stopped unexpectedly" in stack.output()


def test_a_taken_port_is_named_and_nothing_starts(stack_instance):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "workers.devstack"], cwd=ROOT,
                                env=_stack_env(stack_instance, port), capture_output=True,
                                text=True, timeout=120)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
    assert "Traceback" not in result.stderr
