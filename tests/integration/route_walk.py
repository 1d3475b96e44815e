"""Walk every route of the app as one persona: shared by the route-matrix and header tests.

A persona is a role, a clearance and whose objects its URLs point at (its own,
another staff member's, or a restricted-only contact). Each route is requested
with every method it accepts; URL arguments are filled from the objects built
here, so ``contact_id`` really is a contact (someone else's, for staff-of-another).
"""
import re
import uuid
from dataclasses import dataclass

from crm.extensions import db
from crm.models import FollowUp

SKIP_METHODS = {"HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Persona:
    name: str
    role: str | None  # None: anonymous
    clearance: bool = False
    targets: str = "own"  # whose objects the URLs name: own | other | restricted

    @property
    def sees_targets(self):
        """The rule, stated apart from the code under test: may this persona see the objects?"""
        if self.targets == "other":
            return self.role in ("coordinator", "admin")
        if self.targets == "restricted":
            return self.clearance
        return self.role is not None


PERSONAS = [
    Persona("anonymous", None),
    Persona("staff", "staff"),
    Persona("staff-of-another", "staff", targets="other"),
    Persona("staff-cleared", "staff", clearance=True, targets="restricted"),
    Persona("staff-uncleared-restricted", "staff", targets="restricted"),
    Persona("coordinator", "coordinator", targets="other"),
    Persona("coordinator-restricted", "coordinator", targets="restricted"),
    Persona("coordinator-cleared", "coordinator", clearance=True, targets="restricted"),
    Persona("admin", "admin", targets="other"),
    Persona("admin-cleared", "admin", clearance=True, targets="restricted"),
]


@dataclass
class World:
    client: object
    user: object  # None for anonymous
    objects: dict


def build_world(persona, app, signed_in, make_user, make_contact):
    """The persona's client and the objects its URLs will name."""
    if persona.role is None:
        client, user = app.test_client(), None
    else:
        client = signed_in(persona.role, clearance=persona.clearance, login=persona.name)
        user = client.user
    other, _ = make_user("other-staff", "staff")
    owner = user if (user is not None and persona.targets in ("own", "restricted")) else other
    paths = ("combat_service",) if persona.targets == "restricted" else ("volunteering",)
    contact = make_contact(f"Walk {persona.name}", paths=paths)
    contact.assignee_id = owner.id
    followup = FollowUp(contact_id=contact.id, path=paths[0], kind="call", status="open", assignee_id=owner.id)
    db.session.add(followup)
    db.session.commit()
    return World(client, user, {"contact": contact, "followup": followup, "user": other})


def url_args(rule, world):
    """Values for the rule's arguments, taken from the world where the name says what it is."""
    args = {}
    for name in rule.arguments:
        converter = type(rule._converters[name]).__name__
        lowered = name.lower()
        if converter == "UUIDConverter":
            if "contact" in lowered:
                args[name] = world.objects["contact"].id
            elif "follow" in lowered:
                args[name] = world.objects["followup"].id
            elif "user" in lowered:
                args[name] = world.objects["user"].id
            else:
                args[name] = uuid.uuid4()
        elif converter in ("IntegerConverter", "NumberConverter"):
            args[name] = 1
        elif converter == "PathConverter" and rule.endpoint == "static":
            args[name] = "css/muster.css"
        elif converter == "AnyConverter":  # e.g. <any(en, be, ...):lang>: one allowed value
            args[name] = sorted(rule._converters[name].items)[0]
        else:
            shortest = re.search(r"\{(\d+),", getattr(rule._converters[name], "regex", ""))
            args[name] = "x" * (int(shortest.group(1)) if shortest else 1)  # e.g. a long token
    return args


def named_object(rule, world):
    """The contact or follow-up the rule's URL names, if any (for the 404 rule)."""
    for name in rule.arguments:
        if "contact" in name.lower():
            return world.objects["contact"]
        if "follow" in name.lower():
            return world.objects["followup"]
    return None


def requests_for(app, world):
    """(rule, method, path) for every route and method the app serves."""
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
            path = url_for(rule.endpoint, **url_args(rule, world))
            for method in sorted(rule.methods - SKIP_METHODS):
                yield rule, method, path.replace("http://muster.test", "")


def send(client, method, path):
    return client.open(path, method=method, base_url="http://muster.test")
