"""Per-request cost of the access watch: the contact page and a refused request, watch on vs off.

Seeds ``--contacts`` people, half of them assigned to another account (so the scope
counter has work), signs in a coordinator and requests the contact page (a
``contact.view`` audit event: the flush listener notes it, the teardown checks the
scope with one query and updates three sorted sets in one pipelined Redis round trip)
and a hidden contact's page (a 404 on an object: one sorted set), ``--repeat`` times
each, alternating blocks with the watch on and off so load drifts hit both alike.
Thresholds are set out of reach, so no alert is raised while measuring.

Usage: .venv/bin/python bench/access_watch.py [--database-url URL] [--redis-url URL]
       [--contacts N] [--repeat N]
"""
import itertools
import random
import uuid

import benchlib
from workspace_pages import measure, seed, settle, signed_in_client

from crm.extensions import db
from crm.models import AccessSettings, Contact, User
from crm.services import access_alerts
from crm.services.users import create_user

HIGH = dict(reads_window_minutes=10, reads_alert=10**5, reads_suspend=0, scope_window_minutes=60,
            scope_min_opens=10**4, scope_alert_percent=100, scope_suspend_percent=0,
            denied_window_minutes=10, denied_alert=10**5, denied_suspend=0)


def measure_404(call, repeat):
    """Like ``measure`` for a page that answers 404 (the refused request)."""
    import time

    times = []
    for _ in range(repeat):
        db.session.remove()
        start = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 404, response.status_code
    return times, 0.0


def direct_cost(coordinator_id, staff_id, ids, repeat):
    """The watch's own work, timed alone (what the teardown adds): less exposed to load than a
    difference of two noisy request timings."""
    import time

    from crm.services import access_watch

    rows = []
    for label, call in (("watch alone: one contact opened", lambda: access_watch.observe(
            coordinator_id, "coordinator", [str(next(ids))])),
                        ("watch alone: one refusal", lambda: access_watch.observe(
                            staff_id, "staff", (), uuid.uuid4().hex))):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            assert call() == []
            db.session.rollback()
            times.append((time.perf_counter() - start) * 1000)
        rows.append((label, "", f"{benchlib.median(times):.2f}", "", "", f"{benchlib.percentile(times, 95):.2f}"))
    return rows


def main():
    p = benchlib.parser(__doc__.split("\n")[0], contacts=2000)
    p.add_argument("--repeat", type=int, default=200, help="requests per page and setting (default 200)")
    p.add_argument("--blocks", type=int, default=4, help="alternating on/off blocks (default 4)")
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        rng = random.Random(11)
        coordinator, _ = create_user("bench-coord", "coordinator", clearance=True)
        staff, _ = create_user("bench-staff", "staff")
        db.session.add(AccessSettings(id=1, **HIGH))
        db.session.commit()
        coordinator_id, staff_id = coordinator.id, staff.id
        seconds, _, _ = seed(args.contacts, rng, coordinator_id, staff_id)
        settle(app)
        print(f"seeded {args.contacts} contacts in {seconds:.1f} s on {benchlib.backend_name(app)} "
              f"({benchlib.load_note()}); thresholds out of reach: {access_alerts.current().reads_alert}")
        client = signed_in_client(app, db.session.get(User, coordinator_id))
        staff_client = signed_in_client(app, db.session.get(User, staff_id))
        ids = itertools.cycle(list(db.session.scalars(db.select(Contact.id).limit(args.repeat))))
        hidden = [uuid.uuid4() for _ in range(args.repeat)]  # unknown ids: 404 like a hidden contact
        hidden_ids = itertools.cycle(hidden)
        pages = {
            "contact page": (lambda: client.get(f"/contacts/{next(ids)}"), measure),
            "refused (404 on a contact id)": (lambda: staff_client.get(f"/contacts/{next(hidden_ids)}"), measure_404),
        }
        results = {(label, on): [] for label in pages for on in (False, True)}
        for label, (call, how) in pages.items():
            call()
        for block in range(args.blocks):
            for on in (block % 2 == 0, block % 2 == 1):
                app.config["ACCESS_DETECTION"] = on
                for label, (call, how) in pages.items():
                    times, _ = how(call, args.repeat // args.blocks)
                    results[(label, on)].extend(times)
        rows = []
        for label in pages:
            off, on = results[(label, False)], results[(label, True)]
            rows.append((label, f"{benchlib.median(off):.2f}", f"{benchlib.median(on):.2f}",
                         f"{benchlib.median(on) - benchlib.median(off):+.2f}",
                         f"{benchlib.percentile(off, 95):.2f}", f"{benchlib.percentile(on, 95):.2f}"))
        rows += direct_cost(coordinator_id, staff_id, ids, args.repeat)
        benchlib.print_table(f"ms per request, access watch off vs on ({args.repeat} requests each, "
                             f"{args.blocks} alternating blocks)", rows,
                             headers=("request", "median off", "median on", "difference", "p95 off", "p95 on"))


if __name__ == "__main__":
    main()
