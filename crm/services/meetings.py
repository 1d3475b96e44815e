"""Public meetings: creating and editing them, and what was met at each.

A meeting's place and time are public, its notes are encrypted. ``starts_at``
is the wall-clock time at the venue (stored without conversion, shown as typed):
coordinators think in the venue's local time and the app does not know each
city's time zone. Listing who was met at a meeting goes through the
permission helpers, so a contact the viewer may not see is not listed and not
counted.
"""
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import phonenumbers
from sqlalchemy import func, select

from ..errors import NotFound
from ..extensions import db
from ..models import Attendance, Contact, Meeting, User
from ..security import audit, permissions
from .contacts import ValidationError

MAX_ATTENDANCE = 100_000
MIN_YEAR, MAX_YEAR = 2000, 2100
PAGE_SIZE = 25


@dataclass(frozen=True)
class MeetingData:
    """What the meeting form hands to ``create_meeting`` / ``update_meeting``."""

    city: str
    country: str
    starts_at: datetime | None
    venue: str | None = None
    notes: str | None = None
    expected_attendance: int | None = None
    actual_attendance: int | None = None
    host_ids: tuple = field(default_factory=tuple)


def _bad_text(value, limit, multiline=False):
    if len(value) > limit:
        return f"is too long (at most {limit} characters)"
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in allowed for ch in value):
        return "contains control or invisible formatting characters"
    return None


def validate(data):
    """Field errors of ``data`` (empty when it can be stored)."""
    errors = {}
    city = (data.city or "").strip()
    if not city:
        errors["city"] = "is required"
    elif problem := _bad_text(city, 120):
        errors["city"] = problem
    country = (data.country or "").strip().upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        errors["country"] = "must be a two-letter country code such as PL, LT or DE"
    if data.starts_at is None:
        errors["starts_at"] = "is required"
    elif not MIN_YEAR <= data.starts_at.year <= MAX_YEAR:
        errors["starts_at"] = f"must be a date between {MIN_YEAR} and {MAX_YEAR}"
    if data.venue and (problem := _bad_text(data.venue, 200)):
        errors["venue"] = problem
    if data.notes and (problem := _bad_text(data.notes, 4000, multiline=True)):
        errors["notes"] = problem
    for name in ("expected_attendance", "actual_attendance"):
        value = getattr(data, name)
        if value is not None and not 0 <= value <= MAX_ATTENDANCE:
            errors[name] = f"must be a number between 0 and {MAX_ATTENDANCE}"
    return errors


def _hosts(host_ids):
    ids = {uuid.UUID(str(h)) for h in host_ids}
    if not ids:
        return []
    hosts = list(db.session.scalars(select(User).where(User.id.in_(ids), User.active.is_(True))))
    if len(hosts) != len(ids):
        raise ValidationError({"host_ids": "choose hosts among the active staff"})
    return sorted(hosts, key=lambda u: u.login)


def _apply(meeting, data):
    meeting.city = data.city.strip()
    meeting.country = data.country.strip().upper()
    meeting.starts_at = data.starts_at.replace(tzinfo=UTC) if data.starts_at.tzinfo is None \
        else data.starts_at
    meeting.venue = (data.venue or "").strip() or None
    meeting.notes = data.notes or None
    meeting.expected_attendance = data.expected_attendance
    meeting.actual_attendance = data.actual_attendance


def create_meeting(data):
    """Create a meeting from validated input; returns it (flushed)."""
    errors = validate(data)
    if errors:
        raise ValidationError(errors)
    hosts = _hosts(data.host_ids)
    meeting = Meeting()
    _apply(meeting, data)
    meeting.hosts = hosts
    db.session.add(meeting)
    db.session.flush()
    audit.record("meeting.create", "meeting", meeting.id, hosts=len(hosts))
    return meeting


def update_meeting(meeting, data):
    """Change a meeting; returns the names of the fields that changed."""
    errors = validate(data)
    if errors:
        raise ValidationError(errors)
    hosts = _hosts(data.host_ids)
    before = _snapshot(meeting)
    _apply(meeting, data)
    meeting.hosts = hosts
    changed = sorted(k for k, v in _snapshot(meeting).items() if before[k] != v)
    db.session.flush()
    if changed:
        audit.record("meeting.update", "meeting", meeting.id, fields=changed)
    return changed


def _snapshot(meeting):
    return {
        "city": meeting.city, "country": meeting.country, "starts_at": wall_clock(meeting.starts_at),
        "venue": meeting.venue, "notes": meeting.notes,
        "expected_attendance": meeting.expected_attendance,
        "actual_attendance": meeting.actual_attendance,
        "hosts": sorted(str(h.id) for h in meeting.hosts),
    }


def wall_clock(at):
    """The venue's wall-clock time as typed (stored as if UTC), naive, whatever the backend returns."""
    if at is None or at.tzinfo is None:
        return at
    return at.astimezone(UTC).replace(tzinfo=None)


def get_meeting(meeting_id):
    """The meeting with ``meeting_id`` (any id form), or NotFound."""
    try:
        key = meeting_id if isinstance(meeting_id, uuid.UUID) else uuid.UUID(str(meeting_id))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("no such meeting") from None
    meeting = db.session.get(Meeting, key)
    if meeting is None:
        raise NotFound("no such meeting")
    return meeting


@dataclass
class MeetingPage:
    items: list
    page: int
    pages: int
    total: int


def list_meetings(page=1, per_page=PAGE_SIZE):
    """Meetings, most recent first, one page at a time."""
    total = db.session.scalar(select(func.count()).select_from(Meeting))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    items = list(db.session.scalars(
        select(Meeting).order_by(Meeting.starts_at.desc(), Meeting.id)
        .offset((page - 1) * per_page).limit(per_page)
    ))
    return MeetingPage(items, page, pages, total)


def host_choices():
    """(id, login) of the active staff, for the hosts field."""
    rows = db.session.execute(select(User.id, User.login).where(User.active.is_(True)).order_by(User.login))
    return [(str(uid), login) for uid, login in rows]


def visible_attendees(meeting, user):
    """Contacts met at ``meeting`` that ``user`` may see, in the order they were met."""
    stmt = (select(Contact).join(Attendance, Attendance.contact_id == Contact.id)
            .where(Attendance.meeting_id == meeting.id)
            .order_by(Attendance.created_at, Attendance.id))
    return list(db.session.scalars(permissions.visible_contacts(stmt, user)))


def visible_count(meeting, user):
    """How many contacts met at ``meeting`` ``user`` may see (the running count)."""
    stmt = (select(func.count(Contact.id)).join(Attendance, Attendance.contact_id == Contact.id)
            .where(Attendance.meeting_id == meeting.id))
    return db.session.scalar(permissions.visible_contacts(stmt, user))


@dataclass
class Attendee:
    contact: Contact
    paths: list  # the visible PathChoice rows


@dataclass
class MeetingSummary:
    attendees: list
    total: int
    new: int
    per_path: dict
    per_stage: dict


def summarize(meeting, user):
    """Who ``user`` may see among those met at ``meeting``, with counts.

    Counts are taken over the visible contacts and their visible paths only, so
    restricted paths add nothing for a user without clearance.
    """
    attendees = [Attendee(c, permissions.visible_paths(user, c)) for c in visible_attendees(meeting, user)]
    per_path, per_stage = Counter(), Counter()
    for attendee in attendees:
        for choice in attendee.paths:
            per_path[choice.path] += 1
            per_stage[choice.stage] += 1
    new = sum(1 for a in attendees if a.contact.status == "new")
    if attendees:
        audit.record("meeting.attendees_view", "meeting", meeting.id, contacts=len(attendees))
    return MeetingSummary(attendees, len(attendees), new, dict(per_path), dict(per_stage))
