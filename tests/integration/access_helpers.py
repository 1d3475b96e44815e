"""Shared by the access watch and lockdown tests: the watch switched on, thresholds, contacts."""
import pytest

from crm.extensions import db
from crm.models import AccessAlert, AccessSettings, Contact
from crm.services import access_alerts, lockdown

SMALL = dict(reads_window_minutes=10, reads_alert=5, reads_suspend=0, scope_window_minutes=60,
             scope_min_opens=4, scope_alert_percent=50, scope_suspend_percent=0,
             denied_window_minutes=10, denied_alert=3, denied_suspend=0)


@pytest.fixture
def watch(app):
    """The access watch on for this test (the suite runs with it off), small thresholds."""
    saved = app.config["ACCESS_DETECTION"]
    app.config["ACCESS_DETECTION"] = True
    lockdown.forget_cache()
    yield set_thresholds
    app.config["ACCESS_DETECTION"] = saved
    lockdown.forget_cache()
    access_alerts.forget_cache()


def set_thresholds(**values):
    row = db.session.get(AccessSettings, 1) or AccessSettings(id=1)
    for name, value in {**SMALL, **values}.items():
        setattr(row, name, value)
    db.session.add(row)
    db.session.commit()
    access_alerts.forget_cache()
    return access_alerts.current()


def assign(contacts, user):
    for contact in contacts:
        db.session.get(Contact, contact.id).assignee_id = user.id if user is not None else None
    db.session.commit()


def all_alerts():
    db.session.expire_all()
    return list(db.session.scalars(db.select(AccessAlert).order_by(AccessAlert.created_at)))
