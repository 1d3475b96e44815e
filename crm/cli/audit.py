"""``flask crm audit``: check the audit log's hash chain."""
import click

from ..security.audit import verify_chain
from . import operator_command

group = click.Group("audit", help="The append-only audit log.")


@group.command("verify")
@operator_command
def verify():
    """Recompute the hash chain; name the first row that was edited or deleted."""
    report = verify_chain()
    if report.ok:
        click.echo(f"OK: {report.checked} audit events, chain intact.")
        return
    click.echo(f"BROKEN at audit event {report.broken_id}: {report.reason}. "
               f"{report.checked} events before it verified.")
    raise click.exceptions.Exit(1)
