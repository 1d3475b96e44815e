"""Counts for a user's start page, through the permission filters (never names)."""
from dataclasses import dataclass

from sqlalchemy import func, select

from ..extensions import db
from ..models import Contact, FollowUp
from ..models.base import utcnow
from ..security import permissions


@dataclass(frozen=True)
class HomeFigures:
    contacts: int
    new_contacts: int
    my_open_followups: int
    my_overdue_followups: int


def _count(stmt):
    return db.session.scalar(stmt) or 0


def home_figures(user):
    """How many contacts ``user`` may see, how many are new, and their own open work."""
    contacts = permissions.visible_contacts(select(func.count(Contact.id)), user)
    mine = permissions.visible_followups(
        select(func.count(FollowUp.id)).where(FollowUp.assignee_id == user.id, FollowUp.status == "open"),
        user,
    )
    return HomeFigures(
        contacts=_count(contacts),
        new_contacts=_count(contacts.where(Contact.status == "new")),
        my_open_followups=_count(mine),
        my_overdue_followups=_count(mine.where(FollowUp.due_at < utcnow())),
    )
