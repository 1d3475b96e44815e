"""Every endpoint and what it takes to reach it: deny by default.

``ROUTE_PERMISSIONS`` maps each endpoint to ``"public"`` (anyone),
``"signed_in"`` (any active, fully signed-in account) or a permission from
``crm.security.permissions``. A before-request hook (``enforce``) consults it on
every request; an endpoint missing here answers 403 whoever asks, and
``tests/integration/test_route_matrix.py`` fails while any route lacks an entry.
Object-level rules (which contact, which follow-up) stay with the views and
services, through ``permissions.load_visible`` and the query helpers.
"""
import logging
from urllib.parse import urlsplit

from flask import abort, current_app, make_response, request, url_for

from .permissions import PERMISSIONS, can, current_actor

log = logging.getLogger(__name__)

PUBLIC = "public"
SIGNED_IN = "signed_in"

ROUTE_PERMISSIONS = {
    "static": PUBLIC,
    # core
    "core.index": PUBLIC,
    "core.healthz": PUBLIC,
    # the public join form with double opt-in (crm/public/)
    "public.join": PUBLIC,
    "public.thanks": PUBLIC,
    "public.confirm": PUBLIC,
    "public.privacy": PUBLIC,
    "core.home": SIGNED_IN,
    "core.language": PUBLIC,  # sets the lang cookie only (CSRF-checked form)
    # auth: the sign-in steps run before a session is fully signed in (they check its stage)
    "auth.login": PUBLIC,
    "auth.set_password": PUBLIC,
    "auth.totp": PUBLIC,
    "auth.enrol_totp": PUBLIC,
    "auth.logout": PUBLIC,
    "auth.account": SIGNED_IN,
    "auth.change_password": SIGNED_IN,
    "auth.recovery_codes": SIGNED_IN,
    "auth.logout_everywhere": SIGNED_IN,
    # coordinator workspace (the views also call require() and load_visible())
    "contacts.index": "contacts.view",
    "contacts.detail": "contacts.view",
    "contacts.edit": "contacts.edit",
    "contacts.stage": "contacts.edit",
    "contacts.add_note": "contacts.edit",
    "contacts.safety": "contacts.edit",
    "contacts.vouch": "contacts.assign",  # the service also asks for clearance or a vetted member
    "contacts.vouch_members": "contacts.assign",
    "meetings.index": "meetings.view",
    "meetings.detail": "meetings.view",
    "meetings.new": "meetings.manage",
    "meetings.edit": "meetings.manage",
    "meetings.capture": "contacts.create",
    "reports.index": "reports.view",  # counts only, through the permission filters
    "reports.counts_csv": "reports.view",  # the same counts as a file (audited as reports.download)
    "triage.index": "triage.work",
    "triage.act": "triage.work",
    # two-person approvals (crm/approvals/): the services decide who may ask and decide what
    "approvals.index": "contacts.assign",
    "approvals.create": "contacts.assign",
    "approvals.approve": "contacts.assign",
    "approvals.reject": "contacts.assign",
    "approvals.cancel": "contacts.assign",
    # follow-ups (the services also check who may act on which follow-up)
    "followups.index": "followups.work",
    "followups.team": "followups.manage",
    "followups.act": "followups.work",
    "followups.create": "followups.work",
    "followups.mail_address": "followups.work",
    "followups.rules": "rules.manage",
    "followups.rule_new": "rules.manage",
    "followups.rule_edit": "rules.manage",
    "followups.rule_toggle": "rules.manage",
    # duplicate review and merge (crm/duplicates/)
    "duplicates.index": "triage.work",
    "duplicates.dismiss": "triage.work",
    "duplicates.merge": "triage.work",
    "duplicates.merges": "triage.work",
    "duplicates.undo": "triage.work",
    "duplicates.refresh": "triage.work",
    # infiltration signals (crm/signals/): the review page, decisions, blocking a contact
    "signals.index": "triage.work",
    "signals.decide": "triage.work",
    "signals.block": "triage.work",
    # exports (crm/exports/): a second admin approves large ones; tracing a leak is an audit task
    "exports.index": "contacts.export",
    "exports.new": "contacts.export",
    "exports.download": "contacts.export",
    "exports.approve": "exports.approve",
    "exports.refuse": "exports.approve",
    "exports.trace": "audit.view",
    # sign-up sheet imports (crm/imports/; the service checks ownership of each import)
    "imports.index": "imports.run",
    "imports.mapping": "imports.run",
    "imports.progress": "imports.run",
    "imports.rejects": "imports.run",
    # admin
    "admin.users": "users.manage",
    "admin.user_new": "users.manage",
    "admin.user_detail": "users.manage",
    "admin.user_access": "users.manage",
    "admin.user_disable": "users.manage",
    "admin.user_enable": "users.manage",
    "admin.user_unlock": "users.manage",
    "admin.user_reset_totp": "users.manage",
    "admin.user_end_sessions": "users.manage",
    "admin.audit": "audit.view",
    # access alerts, thresholds, reinstatement and the emergency lockdown (crm/access/)
    "access.alerts": "users.manage",
    "access.review": "users.manage",
    "access.reinstate": "users.manage",
    "access.settings": "users.manage",
    "access.lockdown_page": "users.manage",
    "access.lockdown_request": "users.manage",
    "access.lockdown_approve": "users.manage",
    "access.lockdown_lift": "users.manage",
    # people's own data rights (crm/rights/): the link in the mail is their only key
    "rights.ask": PUBLIC,
    "rights.link": PUBLIC,
    "rights.manage": PUBLIC,
    "rights.export": PUBLIC,
    "rights.correct": PUBLIC,
    "rights.erase": PUBLIC,
    "rights.leave": PUBLIC,
    "rights.admin_erase": "contacts.erase",
    # retention by stage (crm/retention/): the forecast, holds and restores, for admins
    "retention.index": "contacts.erase",
    "retention.hold": "contacts.erase",
    "retention.release": "contacts.erase",
    "retention.restore": "contacts.erase",
    # admin operations: jobs, mail outbox, mail templates
    "ops.jobs": "jobs.view",
    "ops.job_retry": "jobs.view",
    "ops.job_discard": "jobs.view",
    "ops.mail": "jobs.view",
    "ops.mail_test": "jobs.view",
    "ops.mail_message": "jobs.view",
    "ops.mail_resend": "jobs.view",
    "ops.mail_templates_index": "jobs.view",
    "ops.mail_template": "jobs.view",
    "ops.mail_template_revert": "jobs.view",
}

_VALID = PERMISSIONS | {PUBLIC, SIGNED_IN}
_unknown = {e: p for e, p in ROUTE_PERMISSIONS.items() if p not in _VALID}
assert not _unknown, f"unknown permissions in the route matrix: {_unknown}"


def requirement(endpoint):
    """What ``endpoint`` needs, or None when the matrix does not list it."""
    return ROUTE_PERMISSIONS.get(endpoint)


def deny(signed_in):
    """Answer a refused request: anonymous users go to sign-in, others get 403."""
    if not signed_in:
        if request.headers.get("HX-Request") == "true" and "auth.login" in current_app.view_functions:
            # An htmx fragment would swap the sign-in page into a corner of the page:
            # send the whole browser to sign-in, back to the page it was on (path only).
            page = urlsplit(request.headers.get("HX-Current-URL", "")).path or None
            response = make_response("", 401)
            response.headers["HX-Redirect"] = url_for("auth.login", next=page)
            return response
        manager = getattr(current_app, "login_manager", None)
        if manager is not None and manager.login_view and request.method == "GET":
            return manager.unauthorized()
        abort(401)
    abort(403)


def enforce():
    """Before-request hook: refuse the request unless the matrix allows this user."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # routing failed; the 404/405 answer follows
    needed = requirement(endpoint)
    if needed is None:
        log.warning("refused %s: endpoint missing from the route matrix", endpoint)
        abort(403)
    if needed == PUBLIC:
        return None
    user = current_actor()
    if user is None:
        return deny(signed_in=False)
    if needed != SIGNED_IN and not can(user, needed):
        return deny(signed_in=True)
    return None


def as_markdown(url_map):
    """docs/permissions.md: every route, what it needs, and which roles pass (generated)."""
    from .permissions import CLEARANCE, ROLE_PERMISSIONS

    roles = list(ROLE_PERMISSIONS)
    lines = [
        "# Permissions matrix",
        "",
        "Generated from `crm/security/route_matrix.py` and `crm/security/permissions.py` by",
        "`python -m crm.security.route_matrix > docs/permissions.md`; a test fails when it is stale.",
        "Any endpoint not listed answers 403 (deny by default). Object rules on top of these:",
        "`staff` see only contacts assigned to them (and their path choices and follow-ups);",
        f"without the `{CLEARANCE}` clearance, `reserve_training` / `combat_service` path choices, their",
        "follow-ups and contacts whose only paths are restricted do not exist; a hidden object answers 404.",
        "",
        "## Routes",
        "",
        "| endpoint | methods | rule | needs | anonymous | " + " | ".join(roles) + " |",
        "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in roles) + " |",
    ]
    for rule in sorted(url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
        needed = ROUTE_PERMISSIONS.get(rule.endpoint, "**missing: refused**")
        methods = ", ".join(sorted(rule.methods - {"HEAD", "OPTIONS"}))
        cells = ["yes" if needed == PUBLIC else "—"]
        cells += ["yes" if needed in (PUBLIC, SIGNED_IN) or needed in ROLE_PERMISSIONS[r] else "—" for r in roles]
        lines.append(f"| `{rule.endpoint}` | {methods} | `{rule.rule}` | {needed} | " + " | ".join(cells) + " |")
    lines += ["", "## Role permissions", "", "| permission | " + " | ".join(roles) + " |",
              "| --- | " + " | ".join("---" for _ in roles) + " |"]
    for permission in sorted(set().union(*ROLE_PERMISSIONS.values())):
        lines.append(f"| `{permission}` | " + " | ".join(
            "yes" if permission in ROLE_PERMISSIONS[r] else "—" for r in roles) + " |")
    lines.append(f"| `{CLEARANCE}` | " + " | ".join("flag" for _ in roles) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - the docs generator
    from crm import create_app

    print(as_markdown(create_app().url_map), end="")
