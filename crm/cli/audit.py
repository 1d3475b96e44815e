"""``flask crm audit``: check the audit log's hash chain and anchor it outside the database."""
import click

from ..extensions import db
from ..security.audit import verify_chain
from ..security.audit_anchor import AnchorError, anchor_path, parse_anchor, read_anchors, write_anchor
from . import operator_command

group = click.Group("audit", help="The append-only audit log.")


def _anchors_option(ctx, param, values):
    try:
        return [parse_anchor(value) for value in values]
    except AnchorError as exc:
        raise click.BadParameter(str(exc)) from None


@group.command("verify")
@click.option("--anchor", "extra", multiple=True, metavar="ID:HASH", callback=_anchors_option,
              help="An anchor from an archived log line ('audit anchor ID:HASH ...'); may be repeated.")
@operator_command
def verify(extra):
    """Recompute the hash chain and check it against its anchors; name the first row
    that was edited, deleted or cut off."""
    path = anchor_path()
    try:
        anchors, retired = read_anchors(path)
    except AnchorError as exc:
        click.echo(f"BROKEN: {exc}.")
        raise click.exceptions.Exit(1) from None
    report = verify_chain(anchors=anchors + extra)
    if not report.ok:
        click.echo(f"BROKEN at audit event {report.broken_id}: {report.reason}. "
                   f"{report.checked} events before it verified.")
        raise click.exceptions.Exit(1)
    click.echo(f"OK: {report.checked} audit events, chain intact.")
    newest = report.newest_anchor
    if newest is not None:
        when = f", written {newest.at}" if newest.at else ""
        verb = "matches" if report.anchors == 1 else "match"
        click.echo(f"{_anchors(report.anchors)} outside the database {verb}; the newest is audit event "
                   f"{newest.event_id}{when}.")
    elif report.checked:
        click.echo(f"No anchor in {path} to check: deleting the newest events would go unnoticed. The "
                   "scheduler writes one every 10 minutes; `flask crm audit anchor` writes one now.")
    if retired:
        click.echo(f"{_anchors(retired)} made under retired keys not checked (an anchor pins every row "
                   "up to its own, so newer anchors cover those rows).")


def _anchors(count):
    return f"{count} anchor" if count == 1 else f"{count} anchors"


@group.command("anchor")
@operator_command
def anchor():
    """Write the chain's head to the anchor file and the log now (the scheduler does it every
    10 minutes)."""
    try:
        written = write_anchor(db.session)
    except AnchorError as exc:
        click.echo(f"{exc}.")
        raise click.exceptions.Exit(1) from None
    if written is None:
        click.echo(f"Nothing new to anchor: the log is empty or its newest event is already the last "
                   f"anchor in {anchor_path()}.")
        return
    click.echo(f"Anchored audit event {written.event_id} ({written.hash}) in {written.source} and the log.")
