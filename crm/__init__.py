"""Muster: a volunteer and supporter CRM that keeps people's identities encrypted."""
import logging
import os

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

import config as config_module

from . import redis_conn
from .errors import ConfigurationError
from .extensions import db, migrate

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates")


def create_app(test_config=None, env=None):
    """Build the app: configuration, extensions, web hooks, blueprints, CLI."""
    app = Flask(__name__, template_folder=TEMPLATES_DIR)
    register_config(app, test_config, env)
    register_proxies(app)
    register_logging(app)
    register_extensions(app)
    register_keyring(app)
    register_web(app)
    register_auth(app)
    register_cli(app)
    return app


def register_config(app, test_config, env):
    config_class = config_module.config_for(env)
    app.config.from_object(config_class)
    if test_config:
        app.config.update(test_config)
    problems = config_class.problems() if not test_config else []
    if problems:
        raise ConfigurationError("Muster will not start in production: " + "; ".join(problems) + ".")
    os.makedirs(app.config["INSTANCE_DIR"], mode=0o700, exist_ok=True)


def register_proxies(app):
    """Believe X-Forwarded-For/-Proto from exactly TRUSTED_PROXIES hops, none by default."""
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if not isinstance(hops, int) or hops < 0:
        raise ConfigurationError("TRUSTED_PROXIES must be a whole number of proxies, 0 or more.")
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def register_logging(app):
    level = app.config.get("LOG_LEVEL", "INFO")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Werkzeug's access log prints full URLs; ours hold only opaque ids, never PII.
    app.logger.setLevel(level)


def register_extensions(app):
    _plan_every_query(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    redis_conn.init_app(app)
    from . import models  # noqa: F401  (register every table with the metadata)


def _plan_every_query(app):
    """PostgreSQL: no server-side prepared statements (psycopg's ``prepare_threshold``).

    After five runs psycopg prepares a query, and PostgreSQL may then switch to a
    generic plan that does not see the values: the triage queue filtered by path and
    stage went from a 26 ms hash join to a 220 ms nested loop over every queued contact.
    Planning each query with its values costs well under a millisecond.
    """
    if not str(app.config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("prepare_threshold", None)
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def register_keyring(app):
    """Production loads the keyring at start: a bad key stops the app, not a request."""
    if app.config["ENV_NAME"] != "production":
        return  # development and tests load it on first use (`keys generate` needs none)
    from .security.crypto import crypto_for
    from .security.keyring import KeyringError

    try:
        crypto_for(app)
    except KeyringError as exc:
        raise ConfigurationError(f"Muster will not start: {exc}.") from None


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def register_web(app):
    from .admin import views as admin_views
    from .core import views, web

    web.init_app(app)
    register_public(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(admin_views.bp)
    register_workspace(app)
    register_rights(app)
    register_followups(app)
    register_imports(app)
    register_ops(app)
    register_approvals(app)
    register_access(app)


def register_access(app):
    """Access alerts, their thresholds and the emergency lockdown (admins)."""
    from .access import views as access_views

    access_views.init_app(app)


def register_approvals(app):
    """The two-person approvals queue (crm/services/approvals.py and its kinds)."""
    from .approvals import views as approval_views

    app.register_blueprint(approval_views.bp)


def register_ops(app):
    """Admin operations: jobs, the mail outbox, mail templates."""
    from .ops import views as ops_views

    app.register_blueprint(ops_views.bp)


def register_imports(app):
    from .imports import views as import_views

    import_views.init_app(app)
    app.register_blueprint(import_views.bp)


def register_public(app):
    """The public join form and privacy notice (before CSRFProtect: it sets the body limit)."""
    from . import public

    public.init_app(app)


def register_rights(app):
    from .rights import admin as _rights_admin  # noqa: F401  (adds the admin action to the blueprint)
    from .rights import views as rights_views
    from .retention import views as retention_views

    app.register_blueprint(rights_views.bp)
    app.register_blueprint(retention_views.bp)  # retention ends in erasure: the same admins


def register_workspace(app):
    from .contacts import views as contact_views
    from .duplicates import views as duplicate_views
    from .exports import views as export_views
    from .meetings import views as meeting_views
    from .signals import views as signal_views
    from .triage import views as triage_views

    for module in (meeting_views, contact_views, triage_views, duplicate_views, export_views, signal_views):
        app.register_blueprint(module.bp)


def register_followups(app):
    from .followups import views as followup_views
    from .reports import views as report_views

    app.register_blueprint(followup_views.bp)
    app.register_blueprint(report_views.bp)


def register_auth(app):
    from . import auth

    auth.init_app(app)


def register_cli(app):
    from .cli import crm_group

    app.cli.add_command(crm_group)
