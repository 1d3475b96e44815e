"""Cost of one argon2id password check with Muster's production parameters.

Prints the median and p95 time of ``PasswordHasher.verify`` over ``--rounds``
checks, and the memory each check takes (the m parameter), for
docs/decisions/0002-argon2id.md. No app, no database.

Usage: .venv/bin/python bench/argon2id_cost.py [--rounds N] [--concurrency K]
"""
import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher

import benchlib  # noqa: F401  (puts the repository on sys.path)
from crm.security.passwords import PRODUCTION_PROFILE


def timed_verify(hasher, stored):
    start = time.perf_counter()
    hasher.verify(stored, "correct horse battery staple 12")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1, help="checks running at once")
    args = parser.parse_args()
    hasher = PasswordHasher.from_parameters(PRODUCTION_PROFILE)
    stored = hasher.hash("correct horse battery staple 12")
    p = PRODUCTION_PROFILE
    with ThreadPoolExecutor(args.concurrency) as pool:
        times = sorted(pool.map(lambda _: timed_verify(hasher, stored), range(args.rounds)))
    p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
    print(f"argon2id t={p.time_cost} m={p.memory_cost // 1024} MiB p={p.parallelism} "
          f"hash_len={p.hash_len} salt_len={p.salt_len}")
    print(f"verify x{args.rounds} (concurrency {args.concurrency}): median {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms; memory per check {p.memory_cost // 1024} MiB")


if __name__ == "__main__":
    main()
