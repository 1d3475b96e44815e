"""Operator commands under ``flask crm``.

Every command ends with one clear line on failure (what to fix), never a
traceback, and commits once at its end: nothing is written half-way.
"""
import functools

import click
import redis
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..errors import ConfigurationError, ServiceError
from ..extensions import db
from ..security.keyring import KeyringError


def _explain(exc):
    if isinstance(exc, (ConfigurationError, ServiceError, KeyringError)):
        return str(exc)
    if isinstance(exc, OperationalError):
        return ("the database does not answer or is not migrated "
                f"({exc.orig.__class__.__name__}): check DATABASE_URL and run `flask db upgrade`")
    if isinstance(exc, SQLAlchemyError):
        return f"the database refused the change ({exc.__class__.__name__}); nothing was saved"
    if isinstance(exc, (redis.RedisError, OSError)) and "redis" in type(exc).__module__:
        return f"Redis does not answer ({exc.__class__.__name__}): check REDIS_URL"
    return None


def _keep_lockdown_refusal(exc):
    """A refusal by the emergency lockdown stays audited, though the command's work is rolled back."""
    from ..services import lockdown

    if lockdown.keep_refusal(exc):
        db.session.commit()


def operator_command(func):
    """Commit once on success; on a known failure roll back and print one line."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
            db.session.commit()
            return result
        except click.exceptions.Exit:
            db.session.commit()
            raise
        except (click.ClickException, click.Abort):
            db.session.rollback()
            raise
        except Exception as exc:
            db.session.rollback()
            _keep_lockdown_refusal(exc)
            message = _explain(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None

    return wrapper


crm_group = AppGroup("crm", help="Muster operator commands.")


def _register():
    from . import audit, bootstrap, demo, keys, users

    for module in (audit, bootstrap, demo, keys, users):
        crm_group.add_command(module.group)
    from .erase import command as erase_command

    crm_group.add_command(erase_command)
    from . import imports  # noqa: F401 -- defines `flask crm import` on crm_group

    from .exports import group as exports_group

    crm_group.add_command(exports_group)
    from .join import group as join_group

    crm_group.add_command(join_group)


_register()
