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


def run_import(import_id):
    """Import a stored sign-up sheet batch by batch (the file is read from the encrypted store).

    Each batch commits its contacts, per-row outcomes and the cursor together, so a
    worker killed half-way resumes after the last committed batch when queued again.
    """
    from crm.services import imports

    with job_context():
        for run in imports.process(import_id):
            db.session.commit()
        return {"import": str(import_id), "status": "done"}
