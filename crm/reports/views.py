"""The reports page: tables of counts, and the same counts drawn as charts.

The tables are the page: they read without JavaScript and to a screen reader. Each chart
is a canvas whose figures sit in a ``data-chart`` attribute (JSON, escaped by ``tojson``),
drawn by ``static/js/reports.js`` with the vendored Chart.js: no inline script (CSP).
"""
from flask import Blueprint, render_template, request
from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from ..contacts.labels import PATHS, SOURCES, STAGES, options
from ..models.enums import CONTACT_SOURCES
from ..models.enums import STAGES as STAGE_KEYS
from ..security.permissions import current_actor, require
from ..services import reports
from .forms import ReportFilterForm

bp = Blueprint("reports", __name__, url_prefix="/reports")
MET = _l("People met")
MOVED_ON = _l("Moved on")


@bp.get("/")
@require("reports.view")
def index():
    form = ReportFilterForm(request.args)
    form.city.choices = options([("", "—")] + [(city, city) for city in reports.meeting_cities()])
    valid = form.validate()
    city = (form.city.data or None) if valid else None
    weeks = int(form.weeks.data) if valid and form.weeks.data else reports.WEEKS
    report = reports.overview(current_actor(), city=city, weeks=weeks)
    charts = {"funnel": _funnel_chart(report.funnel), "weekly": _weekly_chart(report.weekly),
              "meetings": _meetings_chart(report.meetings), "cities": _cities_chart(report.cities)}
    return render_template("reports/index.html", form=form, report=report, charts=charts, weeks=weeks, city=city,
                           met_label=MET, moved_on_label=MOVED_ON), 200 if valid else 400


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
