"""Human labels for the closed vocabularies, translated; templates get them as ``labels``."""
from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice

PATHS = {
    "joint_projects": _l("Joint projects"),
    "volunteering": _l("Volunteering"),
    "reserve_training": _l("Reserve training"),
    "combat_service": _l("Combat service"),
}
STAGES = {
    "interested": _l("Interested"), "contacted": _l("Contacted"), "screening": _l("Screening"),
    "active": _l("Active"), "declined": _l("Declined"), "withdrawn": _l("Withdrawn"),
}
STATUSES = {"new": _l("New"), "triaged": _l("Triaged"), "not_a_fit": _l("Not a fit"), "archived": _l("Archived")}
SOURCES = {"meeting": _l("Met at a meeting"), "self": _l("Self-registered"), "import": _l("Imported")}
TRUST = {"unverified": _l("Unverified"), "met": _l("Met in person"), "vouched": _l("Vouched for"),
         "vetted": _l("Vetted")}
CHANNELS = {"signal": _l("Signal"), "telegram": _l("Telegram"), "phone": _l("Phone"), "email": _l("Email"),
            "in_person_only": _l("In person only")}
REASONS = {
    "duplicate": _l("Duplicate"), "unreachable": _l("Unreachable"), "not_interested": _l("Not interested"),
    "unsuitable": _l("Unsuitable"), "suspicious": _l("Suspicious"), "other": _l("Other"),
}
FIELDS = {
    "full_name": _l("Full name"), "email": _l("Email"), "phone": _l("Phone"),
    "messenger": _l("Messenger handle"), "city": _l("City of residence"),
    "country": _l("Country of residence"), "notes": _l("Notes"), "skills": _l("Skills"),
    "languages": _l("Languages"), "availability": _l("Availability"),
    "preferred_locale": _l("Preferred language"),
}


def options(pairs):
    """(value, label) pairs as the SelectChoice list a WTForms select field takes."""
    return [SelectChoice(value, label) for value, label in pairs]


def labels():
    """The context processor: ``labels.paths[key]`` and so on in every template.

    Resolved to plain text once per page: a lazy string translates again on
    every use, and a queue page uses them hundreds of times.
    """
    groups = {"paths": PATHS, "stages": STAGES, "statuses": STATUSES, "sources": SOURCES,
              "reasons": REASONS, "fields": FIELDS, "trust": TRUST, "channels": CHANNELS}
    return {"labels": {name: {key: str(label) for key, label in group.items()}
                       for name, group in groups.items()}}
