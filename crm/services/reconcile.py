"""The database is the truth: put back into Redis the work it lost.

A periodic job (``workers.periodic.reconcile``) runs every registered step. Each
step finds rows that are due but have no live job (after a Redis flush or
restart, or a worker killed outright) and queues them again under their
deterministic job id; jobs are idempotent, so a job queued twice does its work
once. Other features add their own step::

    from crm.services import reconcile

    @reconcile.step("followups")
    def requeue_followup_jobs(app, now):
        ...  # queue what is missing; return how many were queued

Steps run in registration order; one failing step is reported and does not stop
the others.
"""
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from ..extensions import db
from ..jobs import job_is_live
from ..models import Outbox
from ..models.base import utcnow

log = logging.getLogger(__name__)
STEPS = {}


def step(name):
    """Register ``func(app, now) -> int`` as a reconcile step called ``name``."""

    def register(func):
        STEPS[name] = func
        return func

    return register


def run_all(app=None, now=None):
    """Run every step; returns {name: count queued, or "error: <type>"}."""
    app = app or current_app._get_current_object()
    now = now or utcnow()
    results = {}
    for name, func in STEPS.items():
        try:
            results[name] = func(app, now)
            db.session.commit()
        except Exception as exc:  # noqa: BLE001 - reported per step; the other steps still run
            db.session.rollback()
            log.warning("reconcile step %s failed (%s)", name, type(exc).__name__)
            results[name] = f"error: {type(exc).__name__}"
    return results


@step("mail")
def requeue_mail(app, now):
    """Pending mail older than the grace period, or a claim older than the lease whose
    DATA never began, with no live ``mail-<id>`` job: queue it again. A claim whose
    DATA began and then went silent is in doubt: its job marks it failed."""
    from .mail import enqueue_send, job_id_for

    grace = now - timedelta(seconds=app.config["RECONCILE_GRACE_SECONDS"])
    lease_seconds = app.config["MAIL_CLAIM_LEASE_SECONDS"]
    lease = now - timedelta(seconds=lease_seconds)
    due = select(Outbox.id).where(or_(
        and_(Outbox.status == "pending", Outbox.created_at < grace),
        and_(Outbox.status == "sending", Outbox.claimed_at < lease),
    )).order_by(Outbox.created_at)
    ids = db.session.scalars(due).all()
    db.session.rollback()
    queued = 0
    for outbox_id in ids:
        if not job_is_live(job_id_for(outbox_id), app=app, started_within=lease_seconds):
            enqueue_send(outbox_id, now=True, app=app)
            queued += 1
    return queued
