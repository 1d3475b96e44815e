"""``flask crm keys``: create, rotate, verify and retire encryption keys."""
import os
import time

import click
from flask import current_app
from rq import Worker

from ..extensions import db
from ..redis_conn import get_redis
from ..security import audit
from ..security.crypto import crypto
from ..security.keyring import Keyring, load_keyring, save_keyring
from ..services import keys as key_service
from . import operator_command

group = click.Group("keys", help="Manage the keyring (root keys live outside the database).")


@group.command("generate")
@click.option("--print", "to_stdout", is_flag=True,
              help="Print a new keyring as JSON (for MUSTER_KEYRING) instead of writing the key file.")
@click.option("--next", "next_key", is_flag=True,
              help="Print the current keyring plus a new active key (to rotate a MUSTER_KEYRING).")
def generate(to_stdout, next_key):
    """Create the key file (0600) if it does not exist yet."""
    config = current_app.config
    if next_key:
        keyring = load_keyring(config["MUSTER_KEYRING"], config["MUSTER_KEYRING_FILE"])
        click.echo(keyring.with_new_generation().to_json())
        return
    if to_stdout:
        click.echo(Keyring.generate().to_json())
        return
    path = config["MUSTER_KEYRING_FILE"]
    if not path:
        raise click.ClickException("MUSTER_KEYRING_FILE is empty: set it, or use --print")
    if os.path.exists(path):
        click.echo(f"Key file {path} already exists; nothing changed (use `flask crm keys rotate`).")
        return
    save_keyring(Keyring.generate(), path)
    click.echo(f"Created key file {path} (mode 0600). Back it up: without it the data cannot be read.")


@group.command("status")
@operator_command
def status():
    """Show the key ids, the active key, and any rotation in progress."""
    keyring = crypto().keyring
    for key_id in keyring.ids():
        generation = keyring.get(key_id)
        marker = "active" if key_id == keyring.active_id else "readable"
        click.echo(f"key {key_id}: {marker}, created {generation.created or 'unknown'}")
    rotation = key_service.unfinished_rotation()
    if rotation:
        click.echo(f"rotation {rotation.id} to key {rotation.target_key_id}: "
                   f"{rotation.done}/{rotation.total} rows")


@group.command("rotate")
@click.option("--new-key/--no-new-key", default=True,
              help="Add a new active key first (default), or re-encrypt under the active key.")
@click.option("--inline", is_flag=True, help="Run the batches in this process instead of an RQ worker.")
@click.option("--wait/--no-wait", default=True, help="Show progress until the rotation is done.")
@operator_command
def rotate(new_key, inline, wait):
    """Re-encrypt every value and recompute every blind index under the active key.

    Runs as an RQ job in batches; if it is killed, run this command again and it
    resumes from the last finished batch.
    """
    if not inline:
        get_redis(current_app)  # a queued rotation needs Redis: fail before changing anything
    rotation = key_service.unfinished_rotation()
    if rotation is not None and rotation.target_key_id == crypto().keyring.active_id:
        click.echo(f"Resuming rotation {rotation.id} at {rotation.done}/{rotation.total} rows.")
    else:
        if new_key:
            key_id = key_service.add_active_key()
            click.echo(f"Key {key_id} is now active.")
        rotation = key_service.start_rotation()
    rotation_id = rotation.id
    if inline:
        _run_inline(rotation_id)
        return
    job_id = key_service.queue_rotation(rotation)
    db.session.commit()
    if job_id:
        click.echo(f"Rotation {rotation_id} queued on the 'maintenance' queue.")
    else:
        click.echo(f"Rotation {rotation_id} is already queued or running as job {rotation.job_id} "
                   "(if its worker died, RQ releases the job within a few minutes and the cron resumes it).")
    if wait:
        _follow(rotation_id)


def _run_inline(rotation_id):
    batch_size = current_app.config["KEY_ROTATION_BATCH"]
    done, total = key_service.rotation_progress(rotation_id)
    with click.progressbar(length=max(total, 1), label="Re-encrypting") as bar:
        bar.update(done)
        while key_service.rotate_batch(rotation_id, batch_size):
            db.session.commit()
            now_done, _ = key_service.rotation_progress(rotation_id)
            bar.update(now_done - done)
            done = now_done
    db.session.commit()
    click.echo(f"Rotation {rotation_id} done: run `flask crm keys verify`, then retire the old key.")


def _follow(rotation_id):
    connection = get_redis(current_app)
    idle_since = time.monotonic()
    done, total = key_service.rotation_progress(rotation_id)
    with click.progressbar(length=max(total, 1), label="Re-encrypting") as bar:
        bar.update(done)
        while True:
            db.session.expire_all()
            rotation = db.session.get(key_service.KeyRotation, rotation_id)
            bar.update(rotation.done - done)
            done = rotation.done
            if rotation.status != "running":
                break
            if Worker.count(connection=connection) == 0 and time.monotonic() - idle_since > 10:
                raise click.ClickException(
                    "no RQ worker is running: start one (`make run` or `python -m workers.worker`); "
                    "the rotation is queued and resumes when a worker takes it, or use --inline")
            if Worker.count(connection=connection):
                idle_since = time.monotonic()
            time.sleep(0.5)
    if rotation.status == "done":
        click.echo(f"Rotation {rotation_id} done: run `flask crm keys verify`, then retire the old key.")
    else:
        raise click.ClickException(f"rotation {rotation_id} {rotation.status}: {rotation.error or 'see the jobs'}")


@group.command("verify")
@operator_command
def verify():
    """Decrypt every value; report values or index rows under retired keys and any failure."""
    report = key_service.verify_keys()
    active = crypto().keyring.active_id
    click.echo(f"Checked {report.checked} encrypted values; active key {active}.")
    for key_id, count in sorted(report.values_by_key.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        click.echo(f"  values under key {key_id}: {count}")
    for key_id, count in sorted(report.index_rows_by_key.items()):
        click.echo(f"  index rows under key {key_id}: {count}")
    for table, column, row_id, reason in report.unreadable:
        click.echo(f"  UNREADABLE {table}.{column} row {row_id}: {reason}")
    audit.record("keys.verify", "key", active, checked=report.checked,
                 unreadable=len(report.unreadable), stale_keys=report.stale(active))
    if report.ok(active):
        click.echo("OK: every value decrypts and everything is under the active key.")
        return
    stale = report.stale(active)
    if stale:
        click.echo(f"Keys still in use besides the active one: {', '.join(map(str, stale))} "
                   "(run `flask crm keys rotate --no-new-key`).")
    db.session.commit()
    raise click.exceptions.Exit(1)


@group.command("retire")
@click.argument("key_id", type=int)
@operator_command
def retire(key_id):
    """Remove KEY_ID from the key file, once verify finds nothing under it."""
    key_service.retire_key(key_id)
    click.echo(f"Key {key_id} retired and removed from the key file.")
