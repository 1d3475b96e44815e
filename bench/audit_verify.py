"""Audit chain: verifying the whole log, and the anchor job's check since its last anchor.

    python bench/audit_verify.py --contacts 100000 [--database-url postgresql+psycopg://...]

``--contacts`` is here the number of audit events recorded first (contact views, 5,000 a
commit). Prints the time of ``verify_chain`` over all of them, which the first anchor
(decision 0033) and ``flask crm audit verify`` pay, and of one run of the anchor job after
1,000 more events, which is what it pays every 10 minutes.
"""
import tempfile
import time
from pathlib import Path

from benchlib import backend_name, bench_app, load_note, parser, print_table

from crm.extensions import db
from crm.security import audit
from crm.security.audit_anchor import write_anchor


def _record(count):
    for start in range(0, count, 5000):
        for n in range(start, min(count, start + 5000)):
            audit.record("contact.view", "contact", n, fields=["email", "phone"])
        db.session.commit()


def main():
    args = parser(__doc__.splitlines()[0], contacts=100_000).parse_args()
    with bench_app(args) as app, tempfile.TemporaryDirectory() as folder:
        anchors = Path(folder) / "anchors.jsonl"
        _record(args.contacts)
        start = time.perf_counter()
        report = audit.verify_chain()
        verify_s = time.perf_counter() - start
        start = time.perf_counter()
        write_anchor(db.session, anchors)  # the first anchor: the whole log again
        first_s = time.perf_counter() - start
        _record(1000)
        start = time.perf_counter()
        write_anchor(db.session, anchors)
        next_s = time.perf_counter() - start
        print_table(f"audit chain of {args.contacts:,} events on {backend_name(app)} ({load_note()})", [
            ("events verified", f"{report.checked:,} ({'intact' if report.ok else 'BROKEN'})"),
            ("verify_chain over all (s)", f"{verify_s:.1f}"),
            ("µs per event", f"{verify_s / max(1, report.checked) * 1e6:.0f}"),
            ("first anchor: the whole log verified, then written (s)", f"{first_s:.1f}"),
            ("next anchor after 1,000 more events (ms)", f"{next_s * 1000:.0f}"),
        ])


if __name__ == "__main__":
    main()
