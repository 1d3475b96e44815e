"""One app per worker process, and one unit of work per job.

``job_context()`` opens an app context, sets the audit actor to the job itself,
picks up a rotated key file, and commits once when the job body returns (rolls
back and re-raises otherwise, so the failure reaches RQ's failed registry).
"""
import os
from contextlib import contextmanager

from crm import create_app
from crm.extensions import db
from crm.security import audit
from crm.security.crypto import crypto

_state = {"app": None, "pid": None}


def get_app():
    """The worker's app, created once; connections are renewed after a fork."""
    if _state["app"] is None:
        _state["app"] = create_app()
    if _state["pid"] != os.getpid():
        if _state["pid"] is not None:
            with _state["app"].app_context():
                db.engine.dispose(close=False)  # never share a parent's sockets
        _state["pid"] = os.getpid()
    return _state["app"]


def use_app(app):
    """Run jobs against ``app`` (tests, and the worker entry point)."""
    _state["app"] = app
    _state["pid"] = os.getpid()


def _current_job_id():
    from rq import get_current_job

    job = get_current_job()
    return job.id if job else None


@contextmanager
def job_context():
    app = get_app()
    with app.app_context():
        token = audit.set_context(actor_id=None, request_id=f"job:{_current_job_id()}", ip=None)
        try:
            crypto().refresh_if_changed()
            yield app
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        finally:
            audit.reset_context(token)
            db.session.remove()
