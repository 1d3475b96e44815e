"""The two-person rule for restricted paths (issue 8 item 2, docs/decisions/0021-two-person-rule.md).

Two approval kinds on ``crm.services.approvals``:

- ``restricted_stage`` (params ``path``, ``to_stage``): moving ``reserve_training`` or
  ``combat_service`` to ``screening`` or ``active``. ``contacts.move_stage`` refuses
  that move for everyone else (``NeedsApproval``).
- ``vetting`` (params ``level: vetted``): raising trust to ``vetted``
  (``trust.set_vetted``).

Both are requested by a coordinator or admin with the restricted-path clearance and
decided by a different one (clearance again), each with a reason. Both are
``restricted``: without clearance they do not exist (queue, counts, contact page).
What the request asks is checked when it is made and again when it is approved (the
path may have moved or been closed, the contact may be unverified meanwhile).
"""
from flask_babel import lazy_gettext as _l

from ..contacts import labels
from ..extensions import db
from ..models import Contact
from ..models.enums import CLOSED_STAGES, RESTRICTED_PATHS
from ..security import permissions
from . import approvals, contacts, trust

STAGE = "restricted_stage"
VETTING = "vetting"


def cleared_coordinator(user, contact=None):
    """A coordinator or admin with clearance (who may also see ``contact``, when given)."""
    return permissions.has_clearance(user) and permissions.can(user, "contacts.assign", contact)


def stage_problem(params, contact):
    """Why this move cannot be made now (a message to show), or None."""
    path, to_stage = params.get("path"), params.get("to_stage")
    if set(params) != {"path", "to_stage"} or not contacts.needs_approval(path, to_stage):
        return _l("Only moving a restricted path to screening or active needs an approval.")
    if contact is None:
        return _l("This contact no longer exists.")
    if contact.trust_level == "unverified":
        return _l("The contact is unverified: meet them or have them vouched for first.")
    choice = contact.path(path)
    if choice is not None and choice.stage == to_stage:
        return _l("The path is already at %(stage)s.", stage=labels.STAGES[to_stage])
    if choice is not None and choice.stage in CLOSED_STAGES:
        return _l("The path was closed (%(stage)s): it can only be reopened as interested.",
                  stage=labels.STAGES[choice.stage])
    return None


def vetting_problem(params, contact):
    if params != {"level": "vetted"}:
        return _l("Only raising trust to vetted needs an approval.")
    if contact is None:
        return _l("This contact no longer exists.")
    if contact.trust_level == "vetted":
        return _l("The contact is already vetted.")
    if contact.trust_level == "unverified":
        return _l("The contact is unverified: meet them or have them vouched for first.")
    return None


def _contact(item):
    return db.session.get(Contact, item.contact_id) if item.contact_id else None


def _apply_stage(item, decider):
    contacts.move_stage(item.contact_id, item.params["path"], item.params["to_stage"],
                        actor_id=decider.id, approval=item)


def _apply_vetting(item, decider):
    trust.set_vetted(_contact(item), decider, item)


def _describe_stage(item):
    path, stage = item.params.get("path"), item.params.get("to_stage")
    return _l("Move %(path)s to %(stage)s", path=labels.PATHS.get(path, path), stage=labels.STAGES.get(stage, stage))


def _describe_vetting(item):
    return _l("Raise trust to %(level)s", level=labels.TRUST["vetted"])


def _may_decide(user, item):
    return cleared_coordinator(user, _contact(item))


approvals.register_kind(
    STAGE, can_request=lambda user, params, contact: cleared_coordinator(user, contact),
    can_decide=_may_decide, apply=_apply_stage, describe=_describe_stage,
    view_permission="contacts.assign", restricted=True, validate=stage_problem)
approvals.register_kind(
    VETTING, can_request=lambda user, params, contact: cleared_coordinator(user, contact),
    can_decide=_may_decide, apply=_apply_vetting, describe=_describe_vetting,
    view_permission="contacts.assign", restricted=True, validate=vetting_problem)


def request_stage(contact, user, path, to_stage, reason):
    """Ask a second cleared coordinator to approve moving ``path`` of ``contact`` to ``to_stage``."""
    return approvals.request(STAGE, user, reason, contact=contact, path=path, to_stage=to_stage)


def request_vetting(contact, user, reason):
    """Ask a second cleared coordinator to approve raising ``contact`` to ``vetted``."""
    return approvals.request(VETTING, user, reason, contact=contact, level="vetted")


def stage_choices(contact, user):
    """For the contact page: [(path, [stages that may be requested])] for a cleared user."""
    if not cleared_coordinator(user, contact):
        return []
    choices = []
    for path in sorted(RESTRICTED_PATHS):
        stages = [stage for stage in sorted(contacts.GATED_STAGES, key=list(labels.STAGES).index)
                  if stage_problem({"path": path, "to_stage": stage}, contact) is None]
        if contact.path(path) is not None and stages:
            choices.append((path, stages))
    return choices


def may_request_vetting(contact, user):
    return cleared_coordinator(user, contact) and vetting_problem({"level": "vetted"}, contact) is None
