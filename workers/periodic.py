"""Jobs the cron scheduler starts."""
from crm.services import keys
from workers.context import job_context


def resume_key_rotation():
    """Queue an unfinished rotation again when no job is working on it (idempotent)."""
    with job_context():
        rotation = keys.unfinished_rotation()
        if rotation is None:
            return {"rotation": None}
        job_id = keys.queue_rotation(rotation)
        return {"rotation": rotation.id, "queued": job_id}


def purge_old_sessions():
    """Delete staff session rows ended or last seen more than SESSION_RETENTION_DAYS ago."""
    from crm.services import sessions

    with job_context() as app:
        days = app.config["SESSION_RETENTION_DAYS"]
        return {"deleted": sessions.purge(days), "older_than_days": days}


def reconcile():
    """The database is the truth: queue again the due work Redis lost (crm.services.reconcile)."""
    from crm.services import reconcile as reconciler

    with job_context() as app:
        return reconciler.run_all(app)


def forget_audit_addresses():
    """Blank client addresses in audit events older than AUDIT_IP_RETENTION_DAYS."""
    from crm.security import audit

    with job_context() as app:
        days = app.config["AUDIT_IP_RETENTION_DAYS"]
        return {"blanked": audit.forget_client_addresses(days), "older_than_days": days}


def anchor_audit_chain():
    """Write the audit chain's head outside the database: the anchor file and the log (0033)."""
    from crm.extensions import db
    from crm.security import audit_anchor

    with job_context():
        written = audit_anchor.write_anchor(db.session)
        return {"anchored": None if written is None else written.event_id}


def reconcile_data_rights():
    """Queue again erasures and link lookups whose jobs Redis lost; drop long-expired links."""
    from crm.jobs import enqueue_now, job_is_live
    from crm.services import rights

    with job_context() as app:
        erasures, lookups, expired = rights.reconcile(app.config["RECONCILE_GRACE_SECONDS"], job_is_live)
        for contact_id in erasures:
            enqueue_now("workers.jobs.erase_contact", contact_id, job_id=rights.erasure_job_id(contact_id))
        for request_id in lookups:
            enqueue_now("workers.jobs.send_rights_link", request_id)
        return {"erasures": len(erasures), "lookups": len(lookups), "expired_links": expired}


def purge_expired_files():
    """Delete expired stored files (uploads, rejected rows, exports) and orphaned bytes."""
    from crm.services import files

    with job_context():
        return files.purge_expired()


def send_followup_reminders():
    """Mail each assignee whose follow-ups became overdue (a count and a link; once per follow-up)."""
    from crm.services import followup_mail

    with job_context():
        return followup_mail.send_overdue_reminders()


def send_followup_digests():
    """Each staff member's queue for the day, as counts (key ``digest:<user>:<day>``)."""
    from crm.services import followup_mail

    with job_context():
        return followup_mail.send_daily_digests()


def send_followup_summaries():
    """The team's week, as counts, to coordinators (key ``summary:<user>:<ISO week>``)."""
    from crm.services import followup_mail

    with job_context():
        return followup_mail.send_weekly_summaries()


def purge_followup_outcomes():
    """Blank outcomes and cancel reasons of follow-ups closed over FOLLOWUP_OUTCOME_RETENTION_DAYS ago."""
    from crm.services import followup_mail

    with job_context() as app:
        days = app.config["FOLLOWUP_OUTCOME_RETENTION_DAYS"]
        return {"purged": followup_mail.purge_closed_outcomes(days), "older_than_days": days}


def forget_merge_snapshots():
    """Erase the undo snapshots of merges older than MERGE_UNDO_DAYS (the redirects stay)."""
    from crm.services import merge

    with job_context():
        return {"erased": merge.forget_snapshots()}


def purge_pending_registrations():
    """Delete unconfirmed self-registrations older than JOIN_PENDING_DAYS; requeue stalled confirmations."""
    from crm.jobs import enqueue_now
    from crm.services import registration

    with job_context() as app:
        purged = registration.purge_unconfirmed(app.config["JOIN_PENDING_DAYS"])
        stalled = registration.stalled_confirmations(grace_seconds=600)
        for pending_id in stalled:
            enqueue_now(registration.COMPLETE_JOB, pending_id)
        return {"purged": purged, "requeued": len(stalled)}


def resume_imports():
    """Queue every started, unfinished import whose job is gone (a killed worker, a lost Redis)."""
    from crm.services import imports, lockdown

    with job_context():
        if lockdown.current() is not None:
            return {"queued": 0, "paused": True}  # lifting the lockdown queues them again
        queued = [job_id for job_id in map(imports.start, imports.resumable()) if job_id]
        return {"queued": len(queued)}


def refresh_duplicate_candidates():
    """Recompute the candidate duplicate pairs (the duplicates page reads them)."""
    from crm.services import duplicates

    with job_context():
        return {"pairs": duplicates.refresh_candidates()}


def apply_retention():
    """Retention by stage: archive what is due, erase what has served its grace (batched, resumable)."""
    from rq import get_current_job

    from crm.redis_conn import get_redis
    from crm.services import erasure_redis, retention

    job = get_current_job()
    if job is not None:
        job.result_ttl = 0  # nothing about erased people stays in Redis, not even counts
    with job_context() as app:
        redis = get_redis(app)

        def forget_redis(results):
            tokens = [token for result in results for token in result["tokens"]]
            related = set().union(*(result["related_ids"] for result in results))
            erasure_redis.forget_rate_limits(redis, tokens, app.config["RATELIMIT_KEY_PREFIX"])
            erasure_redis.forget_jobs(redis, related, keep_job_id=job.id if job else None)

        return retention.run(app.config, forget_redis=forget_redis)
