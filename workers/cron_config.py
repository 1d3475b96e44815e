"""The periodic schedule (RQ 3 cron). Jobs take no arguments or ids only."""
from rq import cron

from workers import periodic

# Resume a key rotation whose worker died (the database holds its cursor).
cron.register(periodic.resume_key_rotation, "maintenance", interval=300)
# Ended or abandoned staff session rows go after SESSION_RETENTION_DAYS.
cron.register(periodic.purge_old_sessions, "maintenance", interval=24 * 3600)
# The database is the truth: due work with no job in Redis is queued again.
cron.register(periodic.reconcile, "maintenance", interval=60)
# Audit events keep the client address only for AUDIT_IP_RETENTION_DAYS.
cron.register(periodic.forget_audit_addresses, "maintenance", interval=24 * 3600)
# The audit chain's head goes outside the database (a file and the log): cut-off or
# rewritten events then show in `flask crm audit verify` (decision 0033). The first run
# verifies the whole log (33-39 µs an event, bench/audit_verify.py), hence the timeout.
cron.register(periodic.anchor_audit_chain, "maintenance", interval=600, job_timeout=3600)
# Erasures and data-rights lookups whose job Redis lost are queued again (the database holds them).
cron.register(periodic.reconcile_data_rights, "maintenance", interval=60)
# Uploaded sheets, rejected-row files and exports expire; their bytes go with them.
cron.register(periodic.purge_expired_files, "maintenance", interval=900)
# Follow-ups: overdue reminders every 10 minutes, the daily digest at 06:00, the weekly
# summary on Monday at 07:00 (cron strings are the scheduler's local time), outcome purge daily.
cron.register(periodic.send_followup_reminders, "mail", interval=600)
cron.register(periodic.send_followup_digests, "mail", cron="0 6 * * *")
cron.register(periodic.send_followup_summaries, "mail", cron="0 7 * * 1")
cron.register(periodic.purge_followup_outcomes, "maintenance", interval=24 * 3600)
# A merge's sealed undo snapshot is erased when its undo window closes.
cron.register(periodic.forget_merge_snapshots, "maintenance", interval=24 * 3600)
# Unconfirmed self-registrations are deleted after JOIN_PENDING_DAYS (checked hourly).
cron.register(periodic.purge_pending_registrations, "maintenance", interval=3600)
# An import whose worker died resumes from its committed cursor.
cron.register(periodic.resume_imports, "maintenance", interval=300)
# Candidate duplicate pairs (a self-join of the blind indexes) for the duplicates page.
cron.register(periodic.refresh_duplicate_candidates, "maintenance", interval=3600, job_timeout=3600)
# Retention by stage: archive declined, withdrawn and stale contacts, erase them after the grace.
cron.register(periodic.apply_retention, "maintenance", cron="30 3 * * *", job_timeout=3600)
