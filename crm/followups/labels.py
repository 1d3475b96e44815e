"""Human labels of the follow-up vocabularies, translated."""
from flask_babel import lazy_gettext as _l

KINDS = {
    "call": _l("Call"), "message": _l("Message"), "meeting": _l("Meeting"), "interview": _l("Interview"),
    "vetting": _l("Vetting interview"), "training_intake": _l("Training intake"),
    "send_information": _l("Send information"),
}
STATUSES = {"open": _l("Open"), "done": _l("Done"), "cancelled": _l("Cancelled")}
BUCKETS = {"overdue": _l("Overdue"), "today": _l("Today"), "week": _l("This week"), "later": _l("Later")}
ASSIGN_TO = {
    "contact_assignee": _l("The contact's assignee"), "user": _l("A named person"),
    "cleared_coordinator": _l("A cleared coordinator from the pool"),
}
STRATEGIES = {"least_loaded": _l("Least loaded"), "round_robin": _l("Round robin")}


def resolved():
    """Plain-text labels for one page (a lazy string translates again on every use)."""
    groups = {"kinds": KINDS, "statuses": STATUSES, "buckets": BUCKETS, "assign_to": ASSIGN_TO,
              "strategies": STRATEGIES}
    return {name: {key: str(label) for key, label in group.items()} for name, group in groups.items()}
