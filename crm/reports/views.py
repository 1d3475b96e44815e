"""The reports page: tables of counts, and the same counts drawn as charts.

The tables are the page: they read without JavaScript and to a screen reader. Each chart
is a canvas whose figures sit in a ``data-chart`` attribute (JSON, escaped by ``tojson``),
drawn by ``static/js/reports.js`` with the vendored Chart.js: no inline script (CSP).
"""
import io
from datetime import date

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..contacts.labels import PATHS, SOURCES, STAGES, STATUSES, options
from ..models.enums import CONTACT_SOURCES
from ..models.enums import STAGES as STAGE_KEYS
from ..security.permissions import current_actor, require
from ..services import reports
from ..services.export_file import write_csv
from .forms import ReportFilterForm

bp = Blueprint("reports", __name__, url_prefix="/reports")
MET = _l("People met")
MOVED_ON = _l("Moved on")


@bp.get("/")
@require("reports.view")
def index():
    form, city, weeks = _filters()
    report = reports.overview(current_actor(), city=city, weeks=weeks)
    charts = {"funnel": _funnel_chart(report.funnel), "weekly": _weekly_chart(report.weekly),
              "meetings": _meetings_chart(report.meetings), "cities": _cities_chart(report.cities)}
    return render_template("reports/index.html", form=form, report=report, charts=charts, weeks=weeks, city=city,
                           met_label=MET, moved_on_label=MOVED_ON), 200 if not form.errors else 400


@bp.get("/counts.csv")
@require("reports.view")
def counts_csv():
    """The page's figures as one long table (figure, group, measure, count): easy to pivot."""
    form, city, weeks = _filters()
    if form.errors:  # the page says what is wrong with them, next to the fields
        return redirect(url_for("reports.index", **request.args))
    report = reports.overview(current_actor(), city=city, weeks=weeks, download=True)
    body = io.BytesIO()
    write_csv(body, [_("Figure"), _("Group"), _("Measure"), _("Count")], _count_rows(report))
    return Response(body.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="muster-counts-{date.today().isoformat()}.csv"'})


def _filters():
    """(form, city or None, weeks) from the query string; the defaults when it is not valid."""
    form = ReportFilterForm(request.args)
    form.city.choices = options([("", "—")] + [(city, city) for city in reports.meeting_cities()])
    if not form.validate():
        return form, None, reports.WEEKS
    return form, form.city.data or None, int(form.weeks.data or reports.WEEKS)


def _count_rows(report):
    statuses, paths, weeks = str(_("Contacts by status")), str(_("Paths and stages")), str(_("New contacts per week"))
    for status, count in report.statuses.items():
        yield statuses, str(STATUSES[status]), str(_("Contacts")), count
    for path in report.funnel.paths:
        for stage in STAGE_KEYS:
            yield paths, str(PATHS[path]), str(STAGES[stage]), report.funnel.counts.get((path, stage), 0)
    for n, day in enumerate(report.weekly.starts):
        for source in CONTACT_SOURCES:
            yield weeks, day.isoformat(), str(SOURCES[source]), report.weekly.counts.get((n, source), 0)
    for row in report.meetings:
        label = f"{row.meeting.starts_at:%Y-%m-%d} {row.meeting.city}"
        yield str(_("Recent meetings")), label, str(MET), row.met
        yield str(_("Recent meetings")), label, str(MOVED_ON), row.moved_on
    for row in report.cities:
        yield str(_("Meeting cities")), row.city, str(_("Meetings")), row.meetings
        yield str(_("Meeting cities")), row.city, str(MET), row.met
        yield str(_("Meeting cities")), row.city, str(MOVED_ON), row.moved_on


def _funnel_chart(funnel):
    return {"labels": [str(PATHS[p]) for p in funnel.paths], "stacked": True, "horizontal": True,
            "datasets": [{"label": str(STAGES[stage]), "data": [funnel.counts.get((p, stage), 0) for p in funnel.paths]}
                         for stage in STAGE_KEYS]}


def _weekly_chart(weekly):
    return {"labels": [format_date(day, "d MMM") for day in weekly.starts], "stacked": True,
            "datasets": [{"label": str(SOURCES[source]),
                          "data": [weekly.counts.get((n, source), 0) for n in range(len(weekly.starts))]}
                         for source in CONTACT_SOURCES]}


def _meetings_chart(rows):
    rows = list(reversed(rows))  # oldest first, left to right
    return {"labels": [f"{format_date(row.meeting.starts_at, 'd MMM')} · {row.meeting.city}" for row in rows],
            "datasets": [{"label": str(MET), "data": [row.met for row in rows]},
                         {"label": str(MOVED_ON), "data": [row.moved_on for row in rows]}]}


def _cities_chart(rows):
    return {"labels": [row.city for row in rows],
            "datasets": [{"label": str(MET), "data": [row.met for row in rows]},
                         {"label": str(MOVED_ON), "data": [row.moved_on for row in rows]}]}
