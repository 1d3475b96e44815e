"""Reconcile steps for follow-ups: the database says what is due, Redis may have lost it.

* ``followup_rules``: stage changes of the last FOLLOWUP_RULE_LOOKBACK_DAYS that an
  active rule matches but that have no follow-up from it (their job was lost in a
  Redis flush, or the rows came in by bulk insert) are fired here, in one batch;
  the ``rule_key`` makes that safe beside a job that does run after all.
* ``followup_reminders``: open follow-ups past due with no reminder yet get it
  queued (the Outbox key makes a twin run a no-op).
Both skip what is younger than RECONCILE_GRACE_SECONDS: its own job is on the way.
"""
from datetime import timedelta

from . import followup_firing, followup_mail, reconcile


@reconcile.step("followup_rules")
def fire_missed_rules(app, now):
    """Fire the rules for stage changes that have no follow-up from them yet; returns how many were created."""
    older_than = now - timedelta(seconds=app.config["RECONCILE_GRACE_SECONDS"])
    ids = followup_firing.unfired_stage_changes(app.config["FOLLOWUP_RULE_LOOKBACK_DAYS"], older_than=older_than)
    if not ids:
        return 0
    return followup_firing.apply_rules_batch(ids)["created"]


@reconcile.step("followup_reminders")
def remind_overdue(app, now):
    """Queue the reminders of follow-ups that became overdue and have none; returns how many mails."""
    return followup_mail.send_overdue_reminders(now=now)["queued"]
