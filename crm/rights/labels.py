"""Readable, translated names for the codes in a person's data (the JSON keeps the codes)."""
from flask_babel import lazy_gettext as _l

FIELDS = {
    "full_name": _l("Full name"), "email": _l("Email address"), "phone": _l("Phone number"),
    "messenger": _l("Telegram or Signal handle"), "city": _l("City of residence"),
    "country": _l("Country of residence"), "languages": _l("Languages you speak"), "skills": _l("Skills"),
    "availability": _l("When are you available?"), "notes": _l("Notes"), "id": _l("Record number"), "source": _l("How we met"),
    "status": _l("Record status"), "preferred_locale": _l("Language for messages to you"),
    "consent_at": _l("Consent given"), "consent_version": _l("Privacy notice version"),
    "created_at": _l("Record created"), "updated_at": _l("Last changed"),
    "has_assigned_coordinator": _l("A coordinator is assigned to you"),
}
PATHS = {
    "joint_projects": _l("Joint projects"), "volunteering": _l("Volunteering"),
    "reserve_training": _l("Reserve training"), "combat_service": _l("Combat service"),
}
STAGES = {
    "interested": _l("Interested"), "contacted": _l("Contacted"), "screening": _l("Getting to know each other"),
    "active": _l("Active"), "declined": _l("Not going ahead"), "withdrawn": _l("Withdrawn"),
}
VALUES = {
    "meeting": _l("At a meeting"), "self": _l("You registered yourself"), "import": _l("From a list"),
    "new": _l("New"), "triaged": _l("Reviewed"), "not_a_fit": _l("Not a fit"), "archived": _l("Archived"),
    True: _l("Yes"), False: _l("No"),
}
FOLLOWUP_KINDS = {
    "call": _l("Call"), "message": _l("Message"), "meeting": _l("Meeting"), "interview": _l("Interview"),
    "vetting": _l("Background check"), "training_intake": _l("Training intake"),
    "send_information": _l("Send information"),
}
FOLLOWUP_STATUSES = {"open": _l("Planned"), "done": _l("Done"), "cancelled": _l("Cancelled")}
NOT_A_FIT = {
    "duplicate": _l("Duplicate record"), "unreachable": _l("Could not reach you"),
    "not_interested": _l("Not interested"), "unsuitable": _l("Not suitable"),
    "suspicious": _l("Doubts about the registration"), "other": _l("Other reason"),
}
ACTIONS = {
    "contact.create": _l("Record created"), "contact.view": _l("Record viewed"),
    "contact.update": _l("Details changed"), "contact.export": _l("Data downloaded"),
    "path.stage": _l("Stage changed"), "rights.link_sent": _l("Link to this page sent"),
    "rights.link_opened": _l("Link to this page opened"),
}
OTHER_ACTION = _l("Other work on your record")


def label(table, code):
    """The translated name of ``code``, or the code itself when there is none."""
    if code is None:
        return "—"
    return table.get(code, code)


def value(field, raw):
    """A field's value for people: codes translated, empty shown as a dash."""
    if raw is None or raw == "":
        return "—"
    if field == "preferred_locale":
        from .forms import LANGUAGE_NAMES
        return LANGUAGE_NAMES.get(raw, raw)
    if isinstance(raw, bool) or field in ("source", "status"):
        return VALUES.get(raw, raw)
    return raw
