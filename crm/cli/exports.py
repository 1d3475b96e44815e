"""``flask crm exports trace FILE``: which export a leaked file comes from (its canary row)."""
from pathlib import Path

import click
from sqlalchemy import select

from ..extensions import db
from ..models import User
from ..services import exports
from . import operator_command

group = click.Group("exports", help="Exports of contact lists.")


@group.command("trace")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@operator_command
def trace(path):
    """Name the export whose canary row is in PATH (a CSV or XLSX file)."""
    result = exports.trace(path.read_bytes())
    if not result.exports:
        click.echo(f"No export canary found in {result.cells} cells: the file did not come from a "
                   "Muster export, or its canary row was removed.")
        raise click.exceptions.Exit(1)
    logins = dict(db.session.execute(select(User.id, User.login)).all())
    for export in result.exports:
        click.echo(f"export {export.id}: requested {export.created_at:%Y-%m-%d %H:%M} UTC by "
                   f"{logins.get(export.requested_by_id, 'a deleted account')}, status {export.status}, "
                   f"{export.row_count if export.row_count is not None else export.requested_count} people, "
                   f"format {export.format}, filters {export.filters}")
