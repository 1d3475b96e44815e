"""The triage queue of new, unassigned contacts, with per-row and bulk actions."""
