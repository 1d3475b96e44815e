"""Job functions. Each takes ids only, runs in ``job_context()`` and calls a service.

Jobs let exceptions raise, so a failure lands in RQ's failed registry where an
admin can see it; they never log personal data.
"""
from rq import get_current_job

from crm.extensions import db
from crm.services import keys
from workers.context import job_context


def rotate_keys(rotation_id):
    """Re-encrypt everything under the active key, committing batch by batch.

    Killed half-way, it resumes from the last committed batch when queued again
    (``flask crm keys rotate`` does that for an unfinished rotation).
    """
    with job_context() as app:
        batch_size = app.config["KEY_ROTATION_BATCH"]
        job = get_current_job()
        while keys.rotate_batch(rotation_id, batch_size):
            db.session.commit()
            if job is not None:
                rotation = keys.rotation_progress(rotation_id)
                job.meta.update(done=rotation[0], total=rotation[1])
                job.save_meta()
        return {"rotation": rotation_id, "status": "done"}


def send_rights_link(request_id):
    """Look up a data-rights request's address; mail a link if it is known; forget the address."""
    from crm.rights.links import link_url
    from crm.services import rights

    with job_context():
        return {"links": rights.process_request(rights.as_uuid(request_id), link_url)}


def erase_contact(contact_id):
    """Erase one person: rows, indexes, outbox, Redis keys and jobs; keep anonymous counts.

    Idempotent (an erased contact is a no-op). Leaves no result in Redis: the
    job's own arguments name the contact.
    """
    from crm.redis_conn import get_redis
    from crm.services import erasure, erasure_redis
    from crm.services.rights import as_uuid

    job = get_current_job()
    if job is not None:
        job.result_ttl = 0
    with job_context() as app:
        result = erasure.erase(as_uuid(contact_id), via="admin")
        if result is None:
            return {"erased": False}
        redis = get_redis(app)
        erasure_redis.forget_rate_limits(redis, result["tokens"], app.config["RATELIMIT_KEY_PREFIX"])
        erasure_redis.forget_jobs(redis, result["related_ids"], keep_job_id=job.id if job else None)
        return {"erased": True}


def send_mail(outbox_id):
    """Send one Outbox message (crm.services.mail_delivery); a sent row makes this a no-op.

    A permanent failure (SMTP 5xx) is not retried: the job goes straight to the
    failed registry, where an admin can retry or discard it.
    """
    from crm.services import mail_delivery
    from crm.services.mail import outbox_id as as_uuid

    job = get_current_job()
    last_attempt = job is None or not job.retries_left
    with job_context():
        try:
            return {"outbox": str(outbox_id),
                    "result": mail_delivery.deliver(as_uuid(outbox_id), last_attempt=last_attempt)}
        except mail_delivery.PermanentMailError:
            if job is not None:
                job.retries_left = 0
            raise


def run_import(import_id):
    """Import a stored sign-up sheet batch by batch (the file is read from the encrypted store).

    Each batch commits its contacts, per-row outcomes and the cursor together, so a
    worker killed half-way resumes after the last committed batch when queued again.
    """
    from crm.services import imports

    with job_context():
        try:
            for _ in imports.process(import_id):
                db.session.commit()
        except Exception as exc:
            # Committed batches stay; the run says it failed, so the cron resume leaves it.
            db.session.rollback()
            imports.mark_failed(import_id, exc)
            db.session.commit()
            raise
        return {"import": str(import_id), "status": "done"}


def apply_followup_rules(stage_change_id):
    """Create the follow-ups the active rules ask for when a path entered a stage.

    Idempotent (``rule_key``); a stage change or contact deleted meanwhile is a
    no-op counted as ``missing`` in the result.
    """
    from crm.services import followup_firing

    with job_context():
        return followup_firing.apply_rules(int(stage_change_id))


def remind_followup(followup_id):
    """Scheduled for just after a follow-up falls due: remind its assignee if it is still open
    (the periodic scan does the same for every follow-up; the Outbox key makes it once)."""
    from crm.services import followup_mail

    with job_context():
        return followup_mail.remind_when_due(followup_id)


def build_export(export_id):
    """Build a requested export's encrypted file (idempotent: a built or refused export is left alone)."""
    from crm.services import exports

    with job_context():
        export = exports.build(export_id)
        return {"export": str(export_id), "status": export.status if export else "skipped"}


def complete_registration(pending_id):
    """Turn a confirmed self-registration into a contact, or merge it into the known person.

    Idempotent: a registration already completed is gone, and the job is a no-op.
    """
    import uuid

    from crm.services import registration

    with job_context():
        result = registration.complete(uuid.UUID(str(pending_id)))
        return {"completed": result is not None}


def refresh_duplicates():
    """Recompute the candidate duplicate pairs in SQL (ids only; cron and the duplicates page)."""
    from crm.services import duplicates

    with job_context():
        return {"pairs": duplicates.refresh_candidates()}


def scan_contact_signals(contact_id):
    """The infiltration checks of one contact (shared details, network burst, blocklist, staff).

    Idempotent (one flag per contact, kind and cause); a contact deleted meanwhile is a no-op.
    """
    import uuid

    from crm.services import signal_checks

    with job_context():
        raised = signal_checks.scan_contact(uuid.UUID(str(contact_id)))
        return {"contact_gone": raised is None, "raised": len(raised or [])}


def scan_import_signals(import_id, first_record, last_record):
    """The infiltration checks of the contacts one import batch created or merged into."""
    import uuid

    from crm.services import signal_checks

    with job_context():
        return signal_checks.scan_import_batch(uuid.UUID(str(import_id)), int(first_record), int(last_record))


def record_import_pairs(import_id, first_record, last_record):
    """The duplicate pairs of the contacts one import batch created (decision 0025)."""
    import uuid

    from crm.services import duplicate_pairs

    with job_context():
        return duplicate_pairs.record_import_batch(db.session, uuid.UUID(str(import_id)),
                                                   int(first_record), int(last_record))
