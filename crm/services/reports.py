"""Counts for the reports page: people on each path by stage, new contacts per week, and
what came of the recent meetings and of each meeting city.

Counts only, never a name. Every query goes through the permission helpers, so a
coordinator without clearance gets no bar, row or total of a restricted path or of a
clearance-only contact, and archived contacts count for nobody. Each figure is one or two
grouped queries, whatever the number of contacts: weeks are bucketed in SQL by a CASE over
their bounds, which SQLite and PostgreSQL read alike.
"""
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import case, distinct, exists, func, select

from ..extensions import db
from ..models import Attendance, Contact, Meeting, PathChoice
from ..models.base import utcnow
from ..models.enums import CONTACT_SOURCES, CONTACT_STATUSES, PATHS, RESTRICTED_PATHS, STAGES
from ..security import audit, permissions

WEEKS = 12
MEETINGS = 10
MOVED_ON = ("contacted", "screening", "active")  # a person met who went past "interested"


@dataclass(frozen=True)
class Funnel:
    paths: tuple  # the paths the viewer may see, in PATHS order
    counts: dict  # {(path, stage): people}

    def total(self, path):
        return sum(self.counts.get((path, stage), 0) for stage in STAGES)


@dataclass(frozen=True)
class Weekly:
    starts: tuple  # the Monday of each week, oldest first; the last is this week
    counts: dict  # {(week index, source): new contacts}

    def total(self, week):
        return sum(self.counts.get((week, source), 0) for source in CONTACT_SOURCES)


@dataclass(frozen=True)
class MeetingRow:
    meeting: Meeting
    met: int  # people recorded there whom the viewer may see
    moved_on: int  # of those, people with a path past "interested"


@dataclass(frozen=True)
class CityRow:
    city: str
    meetings: int  # meetings held there
    met: int  # people recorded at them whom the viewer may see (each once)
    moved_on: int  # of those, people with a path past "interested"


@dataclass(frozen=True)
class Overview:
    statuses: dict  # {status: contacts}
    funnel: Funnel
    weekly: Weekly
    meetings: list  # [MeetingRow], newest first
    cities: list  # [CityRow], most people met first


def overview(user, today=None, city=None, weeks=WEEKS, download=False):
    """Everything the reports page shows for ``user``; the view itself is audited (counts only),
    as ``reports.download`` when the counts leave as a file.

    ``city`` narrows every figure to the people met at a meeting in that city (and the
    meetings to that city's).
    """
    today = today or utcnow().date()
    report = Overview(statuses(user, city), funnel(user, city), weekly(user, today, weeks, city),
                      recent_meetings(user, today, city=city), cities(user, today, city))
    audit.record("reports.download" if download else "reports.view", None, None, city=city, weeks=weeks)
    return report


def meeting_cities():
    """The cities meetings were held in, for the filter (public, like the meetings list)."""
    return list(db.session.scalars(select(Meeting.city).distinct().order_by(Meeting.city)))


def _met_in(city):
    return exists().where(Attendance.contact_id == Contact.id, Attendance.meeting_id == Meeting.id,
                          Meeting.city == city)


def _visible(stmt, user, city):
    stmt = permissions.visible_contacts(stmt, user)
    return stmt.where(_met_in(city)) if city else stmt


def statuses(user, city=None):
    """{status: contacts ``user`` may see} (archived contacts are nobody's)."""
    stmt = select(Contact.status, func.count()).group_by(Contact.status)
    found = dict(db.session.execute(_visible(stmt, user, city)).all())
    return {status: found.get(status, 0) for status in CONTACT_STATUSES if status != "archived"}


def funnel(user, city=None):
    """People on each path the viewer may see, by the stage they are at on it."""
    stmt = (select(PathChoice.path, PathChoice.stage, func.count()).join(Contact, Contact.id == PathChoice.contact_id)
            .where(permissions.path_clause(PathChoice.path, user)).group_by(PathChoice.path, PathChoice.stage))
    counts = {(path, stage): n for path, stage, n in db.session.execute(_visible(stmt, user, city))}
    cleared = permissions.has_clearance(user)
    return Funnel(tuple(p for p in PATHS if cleared or p not in RESTRICTED_PATHS), counts)


def weekly(user, today, weeks=WEEKS, city=None):
    """New contacts per week (Monday to Sunday, UTC) by source, the last ``weeks`` weeks."""
    monday = today - timedelta(days=today.weekday())
    starts = tuple(monday - timedelta(weeks=weeks - 1 - n) for n in range(weeks))
    bounds = [datetime.combine(day, time.min, tzinfo=UTC) for day in starts]
    week = case(*((Contact.created_at < bound, n) for n, bound in enumerate(bounds[1:])), else_=weeks - 1)
    end = datetime.combine(monday + timedelta(weeks=1), time.min, tzinfo=UTC)
    stmt = (select(week, Contact.source, func.count())
            .where(Contact.created_at >= bounds[0], Contact.created_at < end).group_by(week, Contact.source))
    counts = {(n, source): count for n, source, count in db.session.execute(_visible(stmt, user, city))}
    return Weekly(starts, counts)


def _held_by(today):
    return datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC)


def _moved_on(user):
    """The contact has a path the viewer may see that went past "interested"."""
    return (select(PathChoice.id).where(PathChoice.contact_id == Contact.id, PathChoice.stage.in_(MOVED_ON),
                                        permissions.path_clause(PathChoice.path, user)).exists())


def _people_met(user, by, *where):
    """{``by``: (people met, people moved on)} over the attendances matching ``where``: each
    person once per group, only the people and paths ``user`` may see."""
    stmt = (select(by, func.count(distinct(Contact.id)), func.count(distinct(case((_moved_on(user), Contact.id)))))
            .select_from(Attendance).join(Meeting, Meeting.id == Attendance.meeting_id)
            .join(Contact, Contact.id == Attendance.contact_id).where(*where).group_by(by))
    return {key: (met, moved) for key, met, moved in db.session.execute(permissions.visible_contacts(stmt, user))}


def cities(user, today, city=None):
    """Per meeting city: meetings held, people met there and how many of them moved on."""
    where = [Meeting.starts_at < _held_by(today)] + ([Meeting.city == city] if city else [])
    held = select(Meeting.city, func.count()).where(*where).group_by(Meeting.city)
    people = _people_met(user, Meeting.city, *where)
    rows = [CityRow(name, count, *people.get(name, (0, 0))) for name, count in db.session.execute(held)]
    return sorted(rows, key=lambda row: (-row.met, row.city))


def recent_meetings(user, today, limit=MEETINGS, city=None):
    """The last ``limit`` meetings held, with the people met there and how many moved on."""
    held = select(Meeting).where(Meeting.starts_at < _held_by(today))
    if city:
        held = held.where(Meeting.city == city)
    meetings = list(db.session.scalars(held.order_by(Meeting.starts_at.desc(), Meeting.id).limit(limit)))
    if not meetings:
        return []
    people = _people_met(user, Attendance.meeting_id, Attendance.meeting_id.in_([m.id for m in meetings]))
    return [MeetingRow(m, *people.get(m.id, (0, 0))) for m in meetings]
