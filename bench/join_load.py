"""Load on the public join form: gunicorn (2 workers) on loopback, GET /join and valid POSTs.

Starts ``gunicorn -w 2 wsgi:app`` on 127.0.0.1 against a migrated database of its
own (SQLite in a temporary folder, or ``--database-url``), with the rate limits
and the minimum fill time lifted for the run. Then, for ``--seconds`` each:

1. GET ``/en/join`` from ``--clients`` threads: requests/s, median and p95.
2. Valid POSTs of the form (each a new address, CSRF and fill-time tokens from a
   GET first): requests/s, median and p95. Each POST validates, encrypts a
   pending registration, renders the mail and stores an Outbox row with its job.
3. Known versus unknown, one request at a time, interleaved: POSTs with the
   address of a contact already in the database, and POSTs with new addresses.
   The two medians should not differ beyond noise (the test suite proves that
   the same work is done; this shows the time).

The load client is a small threaded HTTP/1.1 client from the standard library
(no extra dependency; each thread keeps one connection and measures each
request from send to last byte). It shares the two cores with the server, so
the figures are a floor; the load average is printed with them. So the script
also reads the CPU time the gunicorn workers spent per request (from /proc) and
prints the rate that CPU cost allows on this machine's cores when nothing else
runs (the database and Redis servers' own CPU not included).

Usage: .venv/bin/python bench/join_load.py [--database-url URL] [--redis-url URL]
       [--seconds 10] [--clients 8] [--workers 2] [--timing-pairs 150]
"""
import http.client
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import benchlib
from crm.extensions import db
from crm.redis_conn import get_redis, url_of
from crm.services.contacts import ContactData, create_contact

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
STARTED_RE = re.compile(r'id="started" name="started" type="hidden" value="([^"]+)"')
KNOWN_EMAIL = "known.person@example.org"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(app, args):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        url += ("&" if "?" in url else "?") + "options=" + quote(f"-csearch_path={benchlib.PG_SCHEMA}")
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=url_of(get_redis(app)),
               MUSTER_KEYRING_FILE=app.config["MUSTER_KEYRING_FILE"],
               MUSTER_INSTANCE_DIR=app.config["INSTANCE_DIR"], MUSTER_ENV="development",
               LOG_LEVEL="WARNING", RATELIMIT_JOIN="100000000 per minute",
               RATELIMIT_JOIN_EMAIL="100000000 per minute", JOIN_MIN_FILL_SECONDS="0")
    env.pop("MUSTER_KEYRING", None)
    return env


def start_gunicorn(app, args, port):
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [gunicorn, "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
               "--access-logfile", "-" if args.access_log else "/dev/null"]
    if args.threads > 1:
        command += ["-k", "gthread", "--threads", str(args.threads)]
    proc = subprocess.Popen(command + ["wsgi:app"], cwd=benchlib.ROOT, env=server_env(app, args),
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("gunicorn did not start within 60 s")


class Client:
    """One keep-alive connection with its own cookie (the CSRF token lives in the session)."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.conn = None

    def request(self, method, path, body=None):
        headers = {"Accept-Language": "en"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                start = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, data, elapsed

    def form(self):
        status, html, _ = self.request("GET", "/en/join")
        text = html.decode()
        return CSRF_RE.search(text).group(1), STARTED_RE.search(text).group(1)


def worker_cpu(master_pid):
    """CPU seconds used so far by the gunicorn workers (children of the master), from /proc."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def answers(email, csrf, started):
    return urlencode({
        "csrf_token": csrf, "started": started, "full_name": "Bench Person", "email": email,
        "phone": "+48 600 100 200", "country": "Poland", "city": "Wrocław", "paths": "volunteering",
        "skills": "Logistics", "languages": "Belarusian, Polish", "availability": "Evenings",
        "message": "Hello", "locale": "en", "consent": "y",
    })


def run_phase(port, clients, seconds, post):
    """Requests from ``clients`` threads for ``seconds``: (latencies, statuses)."""
    latencies, statuses, lock = [], {}, threading.Lock()
    stop = time.time() + seconds

    def work(n):
        client = Client(port)
        csrf, started = client.form() if post else (None, None)
        count = 0
        mine, codes = [], {}
        while time.time() < stop:
            if post:
                count += 1
                body = answers(f"bench-{n}-{count}-{random.getrandbits(32)}@example.org", csrf, started)
                status, _, elapsed = client.request("POST", "/en/join", body)
            else:
                status, _, elapsed = client.request("GET", "/en/join")
            mine.append(elapsed)
            codes[status] = codes.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, k in codes.items():
                statuses[code] = statuses.get(code, 0) + k

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, time.perf_counter() - started


def timing_pairs(port, pairs):
    """Interleaved single POSTs for a known and an unknown address: (known, unknown) latencies."""
    client = Client(port)
    csrf, started = client.form()
    known, unknown = [], []
    for n in range(pairs):
        order = [("known", KNOWN_EMAIL), ("unknown", f"stranger-{n}-{random.getrandbits(32)}@example.org")]
        random.shuffle(order)
        for kind, email in order:
            status, _, elapsed = client.request("POST", "/en/join", answers(email, csrf, started))
            assert status == 302, status
            (known if kind == "known" else unknown).append(elapsed)
    return known, unknown


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def main():
    p = benchlib.parser(__doc__.splitlines()[0], contacts=1)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="gthread threads per worker (1: sync workers)")
    p.add_argument("--timing-pairs", type=int, default=150)
    p.add_argument("--access-log", action="store_true")
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        create_contact(ContactData(full_name="Known Person", email=KNOWN_EMAIL, phone="+48 600 100 200",
                                   source="self", paths=("volunteering",)))
        db.session.commit()
        port = free_port()
        server = start_gunicorn(app, args, port)
        try:
            run_phase(port, 2, 2, post=False)  # warm both workers up
            run_phase(port, 2, 2, post=True)
            rows = []
            for label, post in (("GET /en/join", False), ("POST /en/join (valid)", True)):
                load = benchlib.load_note()
                cpu_before = worker_cpu(server.pid)
                latencies, statuses, wall = run_phase(port, args.clients, args.seconds, post)
                cpu = (worker_cpu(server.pid) - cpu_before) / max(1, len(latencies))
                rows.append((label, f"{len(latencies) / wall:.0f}", ms(benchlib.median(latencies)),
                             ms(benchlib.percentile(latencies, 95)), ms(cpu),
                             f"{os.cpu_count() / cpu:.0f}" if cpu else "-",
                             " ".join(f"{k}x{v}" for k, v in sorted(statuses.items())), load))
            benchlib.print_table(
                f"Join form under load: gunicorn -w {args.workers}"
                f"{f' --threads {args.threads}' if args.threads > 1 else ''}, {args.clients} client threads, "
                f"{args.seconds:.0f} s each, {benchlib.backend_name(app)}",
                rows, ("request", "req/s", "median ms", "p95 ms", "worker CPU ms/req", "req/s if CPUs idle",
                       "statuses", "load"))
            known, unknown = timing_pairs(port, args.timing_pairs)
            benchlib.print_table(
                f"Known vs unknown address, {args.timing_pairs} interleaved pairs, one at a time "
                f"({benchlib.load_note()})",
                [("known (merges later)", ms(benchlib.median(known)), ms(benchlib.percentile(known, 95))),
                 ("unknown (new person)", ms(benchlib.median(unknown)), ms(benchlib.percentile(unknown, 95))),
                 ("difference of medians", ms(benchlib.median(known) - benchlib.median(unknown)), "")],
                ("address", "median ms", "p95 ms"))
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
