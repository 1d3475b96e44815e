"""What the translation machinery costs: start-up compilation, the first page in a language,
and the per-call price of translated strings and of dates and numbers in templates.

Figures (µs, median and p95 over ``--calls`` calls, per language where it matters):

- compile all catalogs (every language × domain, cold) and the no-op check of a warm start;
- first gettext in a language: loading and merging the three domains' catalogs (per area);
- gettext of a catalog string, ngettext, and the ``|day``, ``|moment``, ``|number`` filters.

No database is needed. Usage: .venv/bin/python bench/i18n_cost.py [--calls N]
"""
import argparse
import tempfile
import time
from datetime import UTC, date, datetime

import benchlib
from flask import Flask
from flask_babel import force_locale, gettext, ngettext

from crm import i18n

LANGS = ("be", "ru", "uk", "pl")


def per_call_us(func, calls):
    clock = time.perf_counter_ns
    out = []
    for _ in range(calls):
        start = clock()
        func()
        out.append((clock() - start) / 1000)
    return out


def row(name, values):
    return (name, f"{benchlib.median(values):.1f}", f"{benchlib.percentile(values, 95):.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    print(f"i18n cost, {args.calls} calls per figure; {benchlib.load_note()}")

    target = tempfile.mkdtemp(prefix="muster-i18n-bench-")
    start = time.perf_counter()
    compiled = i18n.compile_catalogs(i18n.SOURCE_DIR, target)
    cold_ms = (time.perf_counter() - start) * 1000
    warm = per_call_us(lambda: i18n.compile_catalogs(i18n.SOURCE_DIR, target), 50)
    benchlib.print_table("Start-up", [
        ("compile every catalog, cold (ms)", f"{cold_ms:.1f} ({len(compiled)} languages)"),
        ("warm start: nothing to compile (µs, median)", f"{benchlib.median(warm):.0f}"),
    ])

    app = Flask(__name__)
    app.config.update(INSTANCE_DIR=tempfile.mkdtemp(prefix="muster-i18n-bench-"))
    i18n.init_app(app)
    first = []
    for area in i18n.DOMAINS:
        for lang in LANGS:
            with app.test_request_context(), force_locale(lang), i18n.preferring(area):
                start = time.perf_counter()
                gettext("Contacts")
                first.append((f"first gettext, {lang}, {area} area (ms)", f"{(time.perf_counter() - start) * 1000:.2f}"))
    benchlib.print_table("Loading a language's merged catalogs (once per process, language and area)", first)

    when, day = datetime(2026, 11, 29, 14, 5, tzinfo=UTC), date(2026, 11, 29)
    env = app.jinja_env
    rows = []
    for lang in LANGS:
        with app.test_request_context(f"/?lang={lang}"), force_locale(lang):
            gettext("Contacts")  # catalogs loaded
            rows += [
                row(f"{lang} gettext", per_call_us(lambda: gettext("Contacts"), args.calls)),
                row(f"{lang} ngettext", per_call_us(
                    lambda: ngettext("%(num)d person found", "%(num)d people found", 23), args.calls)),
                row(f"{lang} |day", per_call_us(lambda: env.filters["day"](day), args.calls)),
                row(f"{lang} |moment", per_call_us(lambda: env.filters["moment"](when), args.calls)),
                row(f"{lang} |number", per_call_us(lambda: env.filters["number"](1234567), args.calls)),
            ]
    benchlib.print_table("Per call (µs)", rows, headers=("call", "median", "p95"))


if __name__ == "__main__":
    main()
