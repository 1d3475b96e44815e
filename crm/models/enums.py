"""The closed vocabularies of the data model."""

PATHS = ("joint_projects", "volunteering", "reserve_training", "combat_service")
RESTRICTED_PATHS = frozenset({"reserve_training", "combat_service"})

STAGES = ("interested", "contacted", "screening", "active", "declined", "withdrawn")
# Forward order of the open stages; declined and withdrawn end a path.
STAGE_ORDER = {stage: rank for rank, stage in enumerate(STAGES[:4])}
CLOSED_STAGES = frozenset({"declined", "withdrawn"})

CONTACT_SOURCES = ("meeting", "self", "import")
CONTACT_STATUSES = ("new", "triaged", "not_a_fit", "archived")

ROLES = ("admin", "coordinator", "staff")

# How far we trust that a contact is who they say (docs/decisions/0020-trust-and-safety.md).
TRUST_LEVELS = ("unverified", "met", "vouched", "vetted")
SAFE_CHANNELS = ("signal", "telegram", "phone", "email", "in_person_only")
# Why the retention job archived a contact (docs/decisions/0024-retention.md).
RETENTION_REASONS = ("declined", "withdrawn", "stale")

FOLLOWUP_KINDS = ("call", "message", "meeting", "interview", "vetting", "training_intake", "send_information")
FOLLOWUP_STATUSES = ("open", "done", "cancelled")
# Who gets a rule's follow-up, and how a pool of cleared coordinators shares them.
RULE_ASSIGN_TO = ("contact_assignee", "user", "cleared_coordinator")
RULE_STRATEGIES = ("least_loaded", "round_robin")

# pending -> sending (claimed by one job) -> sent | failed; see docs/decisions/0010-mail-delivery.md
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")
