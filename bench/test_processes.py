"""Start-up cost of the worker and CLI processes the test suite runs: fresh vs fork server.

Runs ``python -m workers.worker --burst mail`` (nothing queued) and ``flask crm keys status``
``--repeat`` times each, alternately started from scratch (``subprocess.run``) and through
the test fork server (tests/forkserver.py), against a throw-away migrated SQLite database
and embedded Redis in a temporary folder. Prints, per command and way, the median and p95 wall
time and the mean CPU time (user + system of the process and its children), so a busy
shared machine still shows the CPU saved. Like the suite, the processes share a bytecode
cache in the temporary folder (``BENCH_NO_BYTECODE_CACHE=1``: each compiles Muster again,
as every process did before when PYTHONDONTWRITEBYTECODE is set).

Usage: .venv/bin/python bench/test_processes.py [--repeat N]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.forkserver import ForkServer, cache_bytecode  # noqa: E402

FLASK = str(Path(sys.executable).parent / "flask")
COMMANDS = {
    "worker --burst": ["-m", "workers.worker", "--burst", "mail"],
    "flask crm keys status": [FLASK, "crm", "keys", "status"],
}


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def environment(folder):
    env = dict(os.environ, MUSTER_ENV="development", MUSTER_INSTANCE_DIR=str(folder),
               DATABASE_URL=f"sqlite:///{folder / 'bench.sqlite3'}", REDIS_URL="",
               MUSTER_KEYRING_FILE=str(folder / "keyring.json"), FLASK_APP="wsgi", PYTHONPATH=str(ROOT))
    env.pop("MUSTER_KEYRING", None)
    return env if os.environ.get("BENCH_NO_BYTECODE_CACHE") else cache_bytecode(env, folder / "pycache")


def fresh(argv, env):
    command = [sys.executable, *argv] if argv[0] == "-m" else argv
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="muster-bench-") as name:
        folder = Path(name)
        env = environment(folder)
        for setup in ([FLASK, "crm", "keys", "generate"], [FLASK, "db", "upgrade"]):
            done = fresh(setup, env)
            assert done.returncode == 0, done.stderr
        server = ForkServer(ROOT)
        # The first runs start the server and the embedded Redis (joined by every later run).
        server.run(["-m", "workers.worker", "--burst", "mail"], env, ROOT)
        ways = {"fresh": lambda argv: fresh(argv, env),
                "fork server": lambda argv: server.run(argv, env, ROOT, timeout=300)}
        figures = {(command, way): ([], []) for command in COMMANDS for way in ways}
        print(f"load average before: {os.getloadavg()}")
        for _ in range(args.repeat):
            for command, argv in COMMANDS.items():
                for way, run in ways.items():
                    cpu, start = children_cpu(), time.perf_counter()
                    result = run(argv)
                    wall = time.perf_counter() - start
                    cpu = getattr(result, "cpu_seconds", None) or children_cpu() - cpu
                    assert result.returncode == 0, (command, way, result.stderr[-1000:])
                    walls, cpus = figures[(command, way)]
                    walls.append(wall)
                    cpus.append(cpu)
        server.stop()
        print(f"load average after: {os.getloadavg()}")
        for (command, way), (walls, cpus) in figures.items():
            walls.sort()
            p95 = walls[min(len(walls) - 1, int(round(0.95 * (len(walls) - 1))))]
            print(f"{command:24} {way:12} wall median {statistics.median(walls):5.2f} s  p95 {p95:5.2f} s  "
                  f"CPU mean {statistics.mean(cpus):5.2f} s  (n={len(walls)})")


if __name__ == "__main__":
    main()
