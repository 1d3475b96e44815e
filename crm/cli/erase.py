"""``flask crm erase CONTACT_ID``: erase a person at once (a request received by other means)."""
import uuid

import click
from flask import current_app

from ..redis_conn import get_redis
from ..services import erasure, erasure_redis
from . import operator_command


@click.command("erase")
@click.argument("contact_id")
@operator_command
def command(contact_id):
    """Erase one contact now: every value, index, message and Redis key; keeps anonymous counts."""
    try:
        key = uuid.UUID(contact_id)
    except ValueError:
        raise click.ClickException("CONTACT_ID is the contact's id, as in its page address (a UUID)") from None
    result = erasure.erase_now(key, via="cli")
    app = current_app._get_current_object()
    redis = get_redis(app)
    erasure_redis.forget_rate_limits(redis, result["tokens"], app.config["RATELIMIT_KEY_PREFIX"])
    erasure_redis.forget_jobs(redis, result["related_ids"])
    click.echo(f"Erased. Audit reference: erasure {result['erasure_id']}.")
