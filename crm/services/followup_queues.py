"""The follow-up queues: my queue by when it is due, the team queue by assignee, the menu counts.

Each is one query on indexed metadata (``ix_follow_up_queue``: assignee, status,
due) narrowed by the viewer's permissions; only the rows shown are decrypted
(the contact's name), and each page view records one audit event with their ids.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import FollowUp, User
from ..models.base import utcnow
from ..security import audit, permissions

BUCKETS = ("overdue", "today", "week", "later")
SHOWN = 200  # rows per bucket or team page; the counts stay exact, further rows are paged


def _day_start(day):
    return datetime.combine(day, time.min, tzinfo=UTC)


def bucket_bounds(today):
    start = _day_start(today)
    return start, start + timedelta(days=1), start + timedelta(days=7)


def bucket_of(followup, today):
    start, tomorrow, week_end = bucket_bounds(today)
    due = followup.due_at
    if due is None:
        return "later"
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)  # SQLite hands back naive values
    if due < start:
        return "overdue"
    if due < tomorrow:
        return "today"
    if due < week_end:
        return "week"
    return "later"


def _bucket_clause(name, today):
    """The SQL condition of one bucket (``bucket_of`` in Python)."""
    start, tomorrow, week_end = bucket_bounds(today)
    due = FollowUp.due_at
    return {"overdue": due < start, "today": and_(due >= start, due < tomorrow),
            "week": and_(due >= tomorrow, due < week_end), "later": or_(due >= week_end, due.is_(None))}[name]


def _bucket_case(today):
    """The bucket's name as an SQL expression, for counts grouped by bucket."""
    return case(*((_bucket_clause(name, today), name) for name in BUCKETS[:-1]), else_="later")


def _pages(count, page):
    """(page, pages) for ``count`` rows at SHOWN a page, ``page`` brought into range."""
    pages = max(1, -(-count // SHOWN))
    return min(max(1, page), pages), pages


@dataclass
class MyQueue:
    today: date
    buckets: dict  # bucket -> [FollowUp]
    counts: dict  # bucket -> int
    bucket: str | None = None  # one bucket paged on its own, or None: the first page of each
    page: int = 1
    pages: int = 1


def _mine(user):
    stmt = select(FollowUp).where(FollowUp.assignee_id == user.id, FollowUp.status == "open")
    return permissions.visible_followups(stmt, user)


def nav_counts(user, today=None):
    """{"overdue": n, "today": n} of ``user``'s own open follow-ups: one indexed count query."""
    if not permissions.can(user, "followups.work"):
        return None
    today = today or utcnow().date()
    start, tomorrow, _ = bucket_bounds(today)
    stmt = (select(func.sum(case((FollowUp.due_at < start, 1), else_=0)),
                   func.sum(case((FollowUp.due_at >= start, 1), else_=0)))
            .where(FollowUp.assignee_id == user.id, FollowUp.status == "open", FollowUp.due_at < tomorrow))
    overdue, due_today = db.session.execute(permissions.visible_followups(stmt, user)).one()
    return {"overdue": int(overdue or 0), "today": int(due_today or 0)}


def my_queue(user, today=None, bucket=None, page=1):
    """``user``'s open follow-ups in buckets: overdue, today, this week (7 days), later.

    The first SHOWN of each bucket; or, with ``bucket``, that bucket alone a page at a time.
    """
    today = today or utcnow().date()
    case_ = _bucket_case(today)
    counts = dict.fromkeys(BUCKETS, 0)
    counts.update(dict(db.session.execute(
        _mine(user).with_only_columns(case_, func.count()).group_by(case_)).all()))
    bucket = bucket if bucket in BUCKETS else None
    page, pages = _pages(counts[bucket], page) if bucket else (1, 1)
    buckets = {name: [] for name in BUCKETS}
    for name in (bucket,) if bucket else BUCKETS:
        if counts[name]:
            buckets[name] = list(db.session.scalars(
                _mine(user).where(_bucket_clause(name, today)).options(selectinload(FollowUp.contact))
                .order_by(FollowUp.due_at.is_(None), FollowUp.due_at, FollowUp.id)
                .offset((page - 1) * SHOWN).limit(SHOWN)))
    shown = [f for shelf in buckets.values() for f in shelf]
    if shown:
        audit.record("followups.view", None, None, queue="mine",
                     contacts=sorted({str(f.contact_id) for f in shown}))
    return MyQueue(today, buckets, counts, bucket, page, pages)


@dataclass
class Workload:
    assignee_id: object
    login: str | None
    overdue: int = 0
    today: int = 0
    week: int = 0
    later: int = 0

    @property
    def total(self):
        return self.overdue + self.today + self.week + self.later


@dataclass
class TeamQueue:
    today: date
    workload: list  # [Workload], most overdue first
    rows: list  # [FollowUp], overdue first then by due date: one page of SHOWN
    assignee: object = None
    total: int = 0
    staff: list = field(default_factory=list)
    page: int = 1
    pages: int = 1


def team_queue(user, assignee=None, today=None, page=1):
    """Every open follow-up ``user`` may see: workload per person, then the list (overdue
    first), SHOWN rows a page.

    ``assignee`` narrows the list to one user id, or "unassigned".
    """
    today = today or utcnow().date()
    bucket = _bucket_case(today)
    base = permissions.visible_followups(select(FollowUp).where(FollowUp.status == "open"), user)
    per = defaultdict(dict)
    for assignee_id, name, count in db.session.execute(
            base.with_only_columns(FollowUp.assignee_id, bucket, func.count())
            .group_by(FollowUp.assignee_id, bucket)):
        per[assignee_id][name] = count
    logins = dict(db.session.execute(select(User.id, User.login).where(User.id.in_([k for k in per if k]))).all())
    workload = [Workload(k, logins.get(k), **{b: v.get(b, 0) for b in BUCKETS}) for k, v in per.items()]
    workload.sort(key=lambda w: (-w.overdue, -w.total, w.login or ""))
    total = sum(w.total for w in workload)
    stmt, listed = base, total
    if assignee is not None:
        wanted = None if assignee == "unassigned" else assignee
        stmt = stmt.where(FollowUp.assignee_id.is_(None) if wanted is None else FollowUp.assignee_id == wanted)
        listed = sum(w.total for w in workload if w.assignee_id == wanted)
    page, pages = _pages(listed, page)
    rows = list(db.session.scalars(stmt.options(selectinload(FollowUp.contact), selectinload(FollowUp.assignee))
                                   .order_by(FollowUp.due_at.is_(None), FollowUp.due_at, FollowUp.id)
                                   .offset((page - 1) * SHOWN).limit(SHOWN)))
    if rows:
        audit.record("followups.view", None, None, queue="team",
                     contacts=sorted({str(f.contact_id) for f in rows}))
    return TeamQueue(today, workload, rows, assignee, total, page=page, pages=pages)
