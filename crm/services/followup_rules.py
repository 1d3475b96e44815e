"""Follow-up rules: list, create, edit (a new version each time), deactivate.

A rule says: when a path choice on ``path`` enters ``stage``, create a
follow-up of ``kind`` due ``delay_days`` later, for the contact's assignee, a
named user, or a cleared coordinator from the pool (least loaded or round
robin). Rules on restricted paths exist only for cleared admins; a named
assignee of such a rule must hold the clearance. Every save keeps a snapshot
(``FollowUpRuleVersion``), so what a follow-up's ``rule_version`` meant stays known.
"""
import uuid
from dataclasses import asdict, dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import FollowUpRule, FollowUpRuleVersion, User
from ..models.base import utcnow
from ..models.enums import FOLLOWUP_KINDS, PATHS, RESTRICTED_PATHS, RULE_ASSIGN_TO, RULE_STRATEGIES, STAGES
from ..models.followup_rule import MAX_DELAY_DAYS
from ..security import audit, permissions
from .contacts import ValidationError

PERMISSION = "rules.manage"

# The defaults of issue 7 (the migration seeds the same; ``seed_defaults`` restores them).
DEFAULT_RULES = (
    ("combat_service", "interested", "vetting", 3, "cleared_coordinator"),
    ("reserve_training", "interested", "training_intake", 7, "contact_assignee"),
    ("volunteering", "interested", "call", 7, "contact_assignee"),
    ("joint_projects", "interested", "meeting", 14, "contact_assignee"),
)


@dataclass(frozen=True)
class RuleData:
    """What the rule form hands to ``create_rule`` / ``update_rule``."""

    path: str
    stage: str
    kind: str
    delay_days: object
    assign_to: str
    assignee_id: object = None
    strategy: str = "least_loaded"
    active: bool = True


def _require(user):
    if not permissions.can(user, PERMISSION):
        raise ServiceError(_l("you may not manage follow-up rules"))


def validate(data, user):
    """Field errors of ``data`` (empty when it can be saved by ``user``)."""
    errors = {}
    if data.path not in PATHS or (data.path in RESTRICTED_PATHS and not permissions.has_clearance(user)):
        errors["path"] = _l("unknown path")
    if data.stage not in STAGES:
        errors["stage"] = _l("unknown stage")
    if data.kind not in FOLLOWUP_KINDS:
        errors["kind"] = _l("unknown kind (choose one of %(kinds)s)", kinds=", ".join(FOLLOWUP_KINDS))
    delay = data.delay_days
    if isinstance(delay, bool) or not isinstance(delay, int):
        errors["delay_days"] = _l("must be a whole number of days")
    elif delay < 0:
        errors["delay_days"] = _l("cannot be negative")
    elif delay > MAX_DELAY_DAYS:
        errors["delay_days"] = _l("is too long (at most %(num)d days)", num=MAX_DELAY_DAYS)
    if data.assign_to not in RULE_ASSIGN_TO:
        errors["assign_to"] = _l("unknown choice")
    if data.strategy not in RULE_STRATEGIES:
        errors["strategy"] = _l("unknown strategy")
    if data.assign_to == "user":
        assignee = _user(data.assignee_id)
        if assignee is None or not permissions.is_actor(assignee):
            errors["assignee_id"] = _l("choose an active staff member")
        elif data.path in RESTRICTED_PATHS and not assignee.restricted_clearance:
            errors["assignee_id"] = _l("this person has no clearance for the path")
        elif not permissions.can(assignee, "contacts.view_all"):
            errors["assignee_id"] = _l("a staff member only sees their own contacts: "
                                       "choose a coordinator, or the contact's assignee")
    return errors


def _user(user_id):
    try:
        return db.session.get(User, uuid.UUID(str(user_id)))
    except (TypeError, ValueError, AttributeError):
        return None


def _settings(data):
    values = asdict(data)
    if data.assign_to != "user":
        values["assignee_id"] = None
    else:
        values["assignee_id"] = _user(data.assignee_id).id
    values["active"] = bool(data.active)
    return values


def _snapshot(rule, user):
    db.session.add(FollowUpRuleVersion(
        rule_id=rule.id, version=rule.version, path=rule.path, stage=rule.stage, kind=rule.kind,
        delay_days=rule.delay_days, assign_to=rule.assign_to, assignee_id=rule.assignee_id,
        strategy=rule.strategy, active=rule.active, changed_by_id=getattr(user, "id", None)))


def visible_rules(user):
    """Every rule ``user`` may manage, by path and stage (restricted ones need clearance)."""
    _require(user)
    stmt = select(FollowUpRule).order_by(FollowUpRule.path, FollowUpRule.stage, FollowUpRule.id)
    if not permissions.has_clearance(user):
        stmt = stmt.where(FollowUpRule.path.not_in(RESTRICTED_PATHS))
    return list(db.session.scalars(stmt))


def load_rule(rule_id, user):
    """One rule ``user`` may manage; NotFound otherwise."""
    _require(user)
    rule = db.session.get(FollowUpRule, rule_id) if isinstance(rule_id, int) else None
    if rule is None or (rule.path in RESTRICTED_PATHS and not permissions.has_clearance(user)):
        raise NotFound("not found")
    return rule


def versions_of(rule):
    return list(db.session.scalars(select(FollowUpRuleVersion).where(FollowUpRuleVersion.rule_id == rule.id)
                                   .order_by(FollowUpRuleVersion.version.desc())))


def create_rule(data, user):
    """A new rule (version 1)."""
    _require(user)
    errors = validate(data, user)
    if errors:
        raise ValidationError(errors)
    rule = FollowUpRule(version=1, **_settings(data))
    db.session.add(rule)
    db.session.flush()
    _snapshot(rule, user)
    audit.record("rule.create", "follow_up_rule", rule.id, path=rule.path, stage=rule.stage, kind=rule.kind,
                 delay_days=rule.delay_days, assign_to=rule.assign_to)
    db.session.flush()
    return rule


def update_rule(rule_id, data, user):
    """Save new settings as the next version; follow-ups already created keep theirs."""
    rule = load_rule(rule_id, user)
    errors = validate(data, user)
    if errors:
        raise ValidationError(errors)
    values = _settings(data)
    changed = sorted(name for name, value in values.items() if getattr(rule, name) != value)
    if not changed:
        return rule
    for name, value in values.items():
        setattr(rule, name, value)
    rule.version += 1
    rule.updated_at = utcnow()
    _snapshot(rule, user)
    audit.record("rule.update", "follow_up_rule", rule.id, version=rule.version, changed=changed,
                 path=rule.path)
    db.session.flush()
    return rule


def set_active(rule_id, active, user):
    """Deactivate (always possible) or reactivate (validated again) a rule: a new version as well."""
    rule = load_rule(rule_id, user)
    active = bool(active)
    if active == rule.active:
        return rule
    if active:
        data = RuleData(path=rule.path, stage=rule.stage, kind=rule.kind, delay_days=rule.delay_days,
                        assign_to=rule.assign_to, assignee_id=rule.assignee_id, strategy=rule.strategy, active=True)
        return update_rule(rule_id, data, user)
    rule.active = False
    rule.version += 1
    rule.updated_at = utcnow()
    _snapshot(rule, user)
    audit.record("rule.update", "follow_up_rule", rule.id, version=rule.version, changed=["active"], path=rule.path)
    db.session.flush()
    return rule


def seed_defaults():
    """Insert the default rules when there is no rule at all (fresh databases, tests)."""
    if db.session.scalar(select(FollowUpRule.id).limit(1)) is not None:
        return []
    rules = []
    for path, stage, kind, delay, assign_to in DEFAULT_RULES:
        rule = FollowUpRule(path=path, stage=stage, kind=kind, delay_days=delay, assign_to=assign_to,
                            strategy="least_loaded", active=True, version=1)
        db.session.add(rule)
        db.session.flush()
        _snapshot(rule, None)
        rules.append(rule)
    db.session.flush()
    return rules
