"""Rules that create follow-ups when a path choice enters a stage, and their history.

``FollowUpRule`` holds the current settings under a stable id (follow-ups name it
in ``rule_key``, so an edited rule never fires twice for one stage entry);
every save appends a ``FollowUpRuleVersion`` snapshot, so old versions are kept.
"""
from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import one_of, utcnow
from .enums import FOLLOWUP_KINDS, PATHS, RULE_ASSIGN_TO, RULE_STRATEGIES, STAGES

MAX_DELAY_DAYS = 365


def _rule_columns():
    """The settings a rule and each of its versions share."""
    return {
        "path": mapped_column(String(24)),
        "stage": mapped_column(String(16)),
        "kind": mapped_column(String(24)),
        "delay_days": mapped_column(Integer),
        "assign_to": mapped_column(String(24)),
        "assignee_id": mapped_column(ForeignKey("user.id", ondelete="SET NULL")),
        "strategy": mapped_column(String(16), default="least_loaded"),
        "active": mapped_column(Boolean, default=True),
    }


def _checks():
    return (
        one_of("path", PATHS, "path"),
        one_of("stage", STAGES, "stage"),
        one_of("kind", FOLLOWUP_KINDS, "kind"),
        one_of("assign_to", RULE_ASSIGN_TO, "assign_to"),
        one_of("strategy", RULE_STRATEGIES, "strategy"),
        CheckConstraint(f"delay_days >= 0 AND delay_days <= {MAX_DELAY_DAYS}", name="delay_days"),
    )


class FollowUpRule(db.Model):
    __tablename__ = "follow_up_rule"
    __table_args__ = (*_checks(), Index("ix_follow_up_rule_match", "path", "stage", "active"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = _rule_columns()["path"]
    stage: Mapped[str] = _rule_columns()["stage"]
    kind: Mapped[str] = _rule_columns()["kind"]
    delay_days: Mapped[int] = _rule_columns()["delay_days"]
    assign_to: Mapped[str] = _rule_columns()["assign_to"]
    assignee_id = _rule_columns()["assignee_id"]
    strategy: Mapped[str] = _rule_columns()["strategy"]
    active: Mapped[bool] = _rule_columns()["active"]
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Round-robin cursor: who got the last follow-up of this rule.
    last_assignee_id = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class FollowUpRuleVersion(db.Model):
    """A snapshot of a rule as saved (version 1 is the rule as created)."""

    __tablename__ = "follow_up_rule_version"
    __table_args__ = (*_checks(), UniqueConstraint("rule_id", "version", name="uq_rule_version"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("follow_up_rule.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = _rule_columns()["path"]
    stage: Mapped[str] = _rule_columns()["stage"]
    kind: Mapped[str] = _rule_columns()["kind"]
    delay_days: Mapped[int] = _rule_columns()["delay_days"]
    assign_to: Mapped[str] = _rule_columns()["assign_to"]
    assignee_id = _rule_columns()["assignee_id"]
    strategy: Mapped[str] = _rule_columns()["strategy"]
    active: Mapped[bool] = _rule_columns()["active"]
    changed_by_id = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    changed_at = mapped_column(DateTime(timezone=True), default=utcnow)
