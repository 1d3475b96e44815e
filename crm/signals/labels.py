"""Translated labels of signal kinds, statuses and evidence, for the signal templates."""
from flask_babel import lazy_gettext as _l

KINDS = {
    "shared_contact_detail": _l("Same contact detail under another name"),
    "ip_burst": _l("Many registrations from one network"),
    "registration_spike": _l("Registered during a spike"),
    "blocklist_match": _l("Matches a blocked or declined person"),
    "staff_detail": _l("Contact detail of a staff member"),
}
SHORT = {
    "shared_contact_detail": _l("shared detail"), "ip_burst": _l("network burst"),
    "registration_spike": _l("spike"), "blocklist_match": _l("blocklist"), "staff_detail": _l("staff detail"),
}
STATUSES = {"open": _l("Open"), "confirmed": _l("Confirmed hostile"), "cleared": _l("Cleared")}
FIELDS = {"email": _l("Email"), "phone": _l("Phone"), "messenger": _l("Messenger handle"),
          "name": _l("Full name"), "name_word": _l("Full name")}
ENTRY_REASONS = {"hostile": _l("confirmed hostile"), "blocked": _l("blocked"), "declined": _l("declined")}
NETWORKS = {"ipv4/24": _l("one IPv4 /24 network"), "ipv6/64": _l("one IPv6 /64 network")}
CATEGORIES = {"infiltration": _l("Suspected infiltration"), "abuse": _l("Abuse or threats"), "other": _l("Other")}


def resolved():
    """Every label as a plain string (rendered in the request's language)."""
    groups = {"kinds": KINDS, "short": SHORT, "statuses": STATUSES, "fields": FIELDS,
              "entry_reasons": ENTRY_REASONS, "networks": NETWORKS, "categories": CATEGORIES}
    return {name: {key: str(label) for key, label in group.items()} for name, group in groups.items()}
