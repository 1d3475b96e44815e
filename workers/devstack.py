"""Run Muster for development: ``python -m workers.devstack`` (what ``make run`` does).

Prepares the instance (``flask crm bootstrap``: key file, migrations, first
admin, demo data), then runs the web app, one RQ worker and the cron scheduler
together. They share one Redis: REDIS_URL if set, else the embedded server, which this process starts and
holds until the others have stopped. Ctrl-C or SIGTERM stops them all; if one of
them dies, the others are stopped too. One clear line says what happened.
"""
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config import Config
from crm.errors import ConfigurationError
from crm.redis_conn import connect, url_of

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STOP_WAIT = 10  # seconds for each child to finish what it is doing


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop everything."""


class ChildDied(Stop):
    """One service ended on its own: stop the others and fail."""


def say(message):
    print(f"devstack: {message}", file=sys.stderr, flush=True)


def _signalled(signum, frame):
    raise Stop(f"{signal.Signals(signum).name} received")


def _port_free(port):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _die_with_parent():
    """Children get SIGTERM if this supervisor is killed outright (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def service_commands(port):
    """The three services, by the name used in messages."""
    return {
        "web": [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                "--threads", "4", "--graceful-timeout", "5", "--no-control-socket", "wsgi:app"],
        "worker": [sys.executable, "-m", "workers.worker"],
        "cron": [sys.executable, "-m", "workers.cron"],
    }


def start(commands, env):
    """Start each service in its own process group: only we pass signals on."""
    return {name: subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                   start_new_session=True, preexec_fn=_die_with_parent)
            for name, argv in commands.items()}


def _alive(process):
    """Whether anything of this service's process group still runs (a dead
    worker's scheduler process, say, which would keep Redis open)."""
    process.poll()  # reap the leader, so that it does not count as a zombie
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(children):
    """SIGTERM each group (warm stop), again (cold stop: RQ ends its job), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, STOP_WAIT), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        running = [p for p in children.values() if _alive(p)]
        if not running:
            return
        for process in running:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass  # ended since we looked
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(p) for p in running):
            time.sleep(0.1)


def watch(children, port):
    """Announce the app once it answers; raise ChildDied when a service exits."""
    announced = False
    while True:
        for name, process in children.items():
            if process.poll() is not None:
                raise ChildDied(f"the {name} stopped unexpectedly (exit code {process.returncode})")
        if not announced and _healthy(port):
            announced = True
            say(f"Muster is running at http://127.0.0.1:{port}/ (health: /healthz) "
                "with one worker and the cron scheduler. Ctrl-C stops them all.")
        time.sleep(0.5)


def _healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main():
    signal.signal(signal.SIGINT, _signalled)
    signal.signal(signal.SIGTERM, _signalled)
    if os.environ.get("MUSTER_ENV") == "production":
        say("make run is for development: in production run gunicorn, workers and cron "
            "as services (see docs/operations.md)")
        return 2
    port = os.environ.get("PORT", "5000")
    if not port.isdigit() or not 0 < int(port) < 65536:
        say(f"PORT={port!r} is not a port number: set PORT to e.g. 5001")
        return 2
    if not _port_free(int(port)):
        say(f"port {port} on 127.0.0.1 is taken: stop what uses it, or run `PORT=5001 make run`")
        return 1
    os.makedirs(Config.INSTANCE_DIR, mode=0o700, exist_ok=True)
    os.chmod(Config.INSTANCE_DIR, 0o700)
    children = {}
    try:
        # Held until we return: the embedded server shuts down with its last client.
        redis = connect(Config.REDIS_URL, Config.INSTANCE_DIR)
        env = dict(os.environ, FLASK_APP="wsgi", PYTHONUNBUFFERED="1",
                   REDIS_URL=Config.REDIS_URL or url_of(redis))
        # Key file, migrations, keyring check, first admin and demo data (each once).
        if subprocess.run([str(BIN / "flask"), "crm", "bootstrap"], cwd=ROOT, env=env).returncode:
            say("`flask crm bootstrap` failed (see above); nothing was started")
            return 1
        children = start(service_commands(port), env)
        watch(children, port)
    except ConfigurationError as exc:
        say(str(exc))
        return 2
    except Stop as reason:
        others = "the others" if isinstance(reason, ChildDied) else "the web app, the worker and cron"
        say(f"{reason}; stopping {others}")
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(children)
        say("stopped.")
        return 1 if isinstance(reason, ChildDied) else 0


if __name__ == "__main__":
    sys.exit(main())
