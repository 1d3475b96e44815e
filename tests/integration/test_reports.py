"""The reports page: counts by path and stage, by week and by meeting, through the permission
filters (restricted paths and clearance-only people only with clearance), never a name."""
import json
import re
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select, update

from crm.extensions import db
from crm.models import Attendance, AuditEvent, Contact
from crm.services import reports
from crm.services.contacts import move_stage
from crm.services.meetings import MeetingData, create_meeting

TODAY = date(2026, 11, 25)  # a Wednesday: this week began on Monday 23 November


@pytest.fixture
def people(make_contact):
    """Ala: volunteering, interested. Bo: volunteering, contacted. Cyr: volunteering
    (interested) and combat service (contacted). Dora: combat service only, so clearance-only."""
    ala = make_contact("Ala Reportowa", paths=("volunteering",))
    bo = make_contact("Bo Reportowy", paths=("volunteering",))
    cyr = make_contact("Cyr Reportowy", paths=("volunteering", "combat_service"))
    dora = make_contact("Dora Reportowa", paths=("combat_service",))
    move_stage(bo.id, "volunteering", "contacted")
    move_stage(cyr.id, "combat_service", "contacted")
    db.session.commit()
    return {"ala": ala, "bo": bo, "cyr": cyr, "dora": dora}


@pytest.fixture
def viewers(make_user):
    return {"cleared": make_user("lead-cleared", "coordinator", clearance=True)[0],
            "uncleared": make_user("lead-plain", "coordinator", clearance=False)[0]}


def _meeting(city, day, *met):
    """A meeting in ``city`` on ``day`` (18:00 UTC) where the contacts ``met`` were recorded."""
    meeting = create_meeting(MeetingData(city=city, country="PL", starts_at=datetime.combine(day, time(18))))
    db.session.add_all(Attendance(meeting_id=meeting.id, contact_id=contact.id) for contact in met)
    db.session.commit()
    return meeting


def test_the_funnel_counts_people_by_path_and_stage_and_hides_restricted_paths(people, viewers):
    cleared = reports.funnel(viewers["cleared"])
    assert cleared.paths == ("joint_projects", "volunteering", "reserve_training", "combat_service")
    assert cleared.counts == {("volunteering", "interested"): 2, ("volunteering", "contacted"): 1,
                              ("combat_service", "interested"): 1, ("combat_service", "contacted"): 1}
    assert cleared.total("combat_service") == 2
    plain = reports.funnel(viewers["uncleared"])
    assert plain.paths == ("joint_projects", "volunteering")
    assert plain.counts == {("volunteering", "interested"): 2, ("volunteering", "contacted"): 1}
    assert reports.statuses(viewers["cleared"]) == {"new": 4, "triaged": 0, "not_a_fit": 0}
    assert reports.statuses(viewers["uncleared"])["new"] == 3  # Dora is clearance-only


def test_new_contacts_are_counted_by_monday_week_and_source(make_contact, viewers):
    def made(name, at, source="meeting"):
        contact = make_contact(name, paths=("volunteering",), source=source)
        db.session.execute(update(Contact).where(Contact.id == contact.id).values(created_at=at))
        db.session.commit()

    made("This Monday", datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    made("This Wednesday", datetime(2026, 11, 25, 9, 0, tzinfo=UTC), source="import")
    made("Last Sunday", datetime(2026, 11, 22, 23, 59, tzinfo=UTC))
    made("First Week", datetime(2026, 9, 7, 0, 0, tzinfo=UTC), source="self")
    made("Before The Window", datetime(2026, 9, 6, 23, 59, tzinfo=UTC))
    weekly = reports.weekly(viewers["cleared"], TODAY)
    assert weekly.starts[-1] == date(2026, 11, 23) and weekly.starts[0] == date(2026, 9, 7)
    assert len(weekly.starts) == reports.WEEKS
    assert weekly.counts == {(11, "meeting"): 1, (11, "import"): 1, (10, "meeting"): 1, (0, "self"): 1}
    assert weekly.total(11) == 2


def test_recent_meetings_count_the_people_met_and_who_moved_on_as_the_viewer_may_see(people, viewers):
    held = _meeting("Wrocław", date(2026, 11, 20), *people.values())
    coming = _meeting("Kraków", date(2026, 12, 20), people["ala"])
    [row] = reports.recent_meetings(viewers["cleared"], TODAY)
    assert (row.meeting.id, row.met, row.moved_on) == (held.id, 4, 2)  # Bo; Cyr on combat service
    [row] = reports.recent_meetings(viewers["uncleared"], TODAY)
    assert (row.met, row.moved_on) == (3, 1)  # no Dora; Cyr's restricted progress is not theirs to see
    assert [r.meeting.id for r in reports.recent_meetings(viewers["cleared"], date(2026, 12, 21))] \
        == [coming.id, held.id]


def _chart(body, name):
    canvases = re.findall(r'<canvas data-chart="([^"]+)"', body)
    specs = [json.loads(raw.replace("&#34;", '"').replace("&amp;", "&")) for raw in canvases]
    return {"funnel": specs[0], "weekly": specs[1]}[name]


def test_the_page_for_coordinators_only_counts_and_no_names(signed_in, people):
    assert signed_in("staff").get("/reports/").status_code == 403
    lead = signed_in("coordinator")
    response = lead.get("/reports/")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Volunteering" in body and "Combat service" not in body and "Reserve training" not in body
    assert "Reportow" not in body  # counts only
    funnel = _chart(body, "funnel")
    assert funnel["labels"] == ["Joint projects", "Volunteering"]
    interested = next(d for d in funnel["datasets"] if d["label"] == "Interested")
    assert interested["data"] == [0, 2]
    assert "<script>" not in body and "vendor/chartjs/chart.umd.min.js" in body
    seen = db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == lead.user.id)).all()
    assert "reports.view" in seen
    cleared = signed_in("coordinator", clearance=True).get("/reports/").get_data(as_text=True)
    assert "Combat service" in cleared


def test_the_menu_shows_reports_to_coordinators(signed_in):
    assert 'href="/reports/"' in signed_in("coordinator").get("/home").get_data(as_text=True)
    assert 'href="/reports/"' not in signed_in("staff").get("/home").get_data(as_text=True)


def test_the_page_answers_in_polish(signed_in, people):
    lead = signed_in("coordinator")
    body = lead.get("/reports/", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    assert "Nowe kontakty w tygodniach" in body and "Ścieżki i etapy" in body


def test_the_figures_are_a_few_grouped_queries(make_contact, viewers):
    """The figures are grouped in SQL: the page's queries do not grow with the contacts."""
    from sqlalchemy import event

    for n in range(30):
        make_contact(f"Many People{n}", paths=("volunteering",))
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        reports.overview(viewers["cleared"], TODAY)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) <= 8, statements  # the user, then a few grouped queries per figure


def test_a_city_narrows_every_figure_to_the_people_met_there(people, viewers, make_contact):
    wroclaw = _meeting("Wrocław", date(2026, 11, 20), people["ala"], people["bo"])
    _meeting("Vilnius", date(2026, 11, 21), people["cyr"])
    cleared = viewers["cleared"]
    assert reports.meeting_cities() == ["Vilnius", "Wrocław"]
    report = reports.overview(cleared, TODAY, city="Wrocław")
    assert report.statuses["new"] == 2
    assert report.funnel.counts == {("volunteering", "interested"): 1, ("volunteering", "contacted"): 1}
    assert sum(report.weekly.counts.values()) == 0  # created today: after the week of TODAY
    assert [row.meeting.id for row in report.meetings] == [wroclaw.id]
    now = reports.weekly(cleared, datetime.now(UTC).date(), city="Vilnius")
    assert sum(now.counts.values()) == 1
    assert reports.funnel(cleared, "Vilnius").counts == {("volunteering", "interested"): 1,
                                                         ("combat_service", "contacted"): 1}


def test_the_filters_over_http(signed_in, people):
    _meeting("Wrocław", date(2026, 11, 20), people["ala"])
    lead = signed_in("coordinator")
    body = lead.get("/reports/?city=Wroc%C5%82aw&weeks=4").get_data(as_text=True)
    assert "Only people met at a meeting in Wrocław." in body
    assert len(_chart(body, "weekly")["labels"]) == 4
    assert _chart(body, "funnel")["datasets"][0]["data"] == [0, 1]  # Ala alone, interested in volunteering
    refused = lead.get("/reports/?city=Atlantis&weeks=5")
    assert refused.status_code == 400
    assert "Not a valid choice" in refused.get_data(as_text=True)
    assert len(_chart(refused.get_data(as_text=True), "weekly")["labels"]) == reports.WEEKS  # the defaults shown


def test_each_meeting_city_counts_its_meetings_and_each_person_once(people, viewers):
    _meeting("Wrocław", date(2026, 11, 10), people["bo"])
    _meeting("Wrocław", date(2026, 11, 20), people["bo"], people["cyr"], people["dora"])
    _meeting("Vilnius", date(2026, 11, 21))  # nobody met
    _meeting("Kraków", date(2026, 12, 20))  # not yet held
    rows = [(r.city, r.meetings, r.met, r.moved_on) for r in reports.cities(viewers["cleared"], TODAY)]
    assert rows == [("Wrocław", 2, 3, 2), ("Vilnius", 1, 0, 0)]  # Bo twice is one person; Dora is interested
    rows = [(r.city, r.meetings, r.met, r.moved_on) for r in reports.cities(viewers["uncleared"], TODAY)]
    assert rows == [("Wrocław", 2, 2, 1), ("Vilnius", 1, 0, 0)]  # no Dora; Cyr's restricted progress unseen
    assert [r.city for r in reports.cities(viewers["cleared"], TODAY, city="Vilnius")] == ["Vilnius"]


def test_the_counts_download_as_one_long_table_audited_and_neutralised(signed_in, people):
    import csv
    import io

    _meeting("=HYPERLINK(1)", date(2026, 11, 20), people["bo"])
    lead = signed_in("coordinator")
    page = lead.get("/reports/").get_data(as_text=True)
    assert 'href="/reports/counts.csv?weeks=12"' in page
    response = lead.get("/reports/counts.csv?weeks=4")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="muster-counts-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Figure", "Group", "Measure", "Count"]
    assert ["Paths and stages", "Volunteering", "Interested", "2"] in rows
    assert ["Paths and stages", "Volunteering", "Contacted", "1"] in rows
    assert not any(row[1] == "Combat service" for row in rows)  # no clearance, no restricted path
    assert sum(1 for row in rows if row[0] == "New contacts per week") == 4 * 3  # 4 weeks x 3 sources
    assert ["Meeting cities", "'=HYPERLINK(1)", "People met", "1"] in rows  # neutralised, never a formula
    assert "Reportow" not in response.get_data(as_text=True)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == lead.user.id)).all()
    assert "reports.download" in actions
    refused = lead.get("/reports/counts.csv?city=Atlantis", follow_redirects=True)
    assert refused.status_code == 400 and "Not a valid choice" in refused.get_data(as_text=True)
    assert signed_in("staff").get("/reports/counts.csv").status_code == 403
