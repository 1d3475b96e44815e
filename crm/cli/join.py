"""``flask crm join move-availability``: after migration 0024, availability out of the notes."""
import click
from flask.cli import AppGroup

from ..services import join_answers
from . import operator_command

group = AppGroup("join", help="Self-registration maintenance.")


@group.command("move-availability")
@operator_command
def move_availability():
    """Move the availability that earlier self-registrations kept in their notes into its field."""
    moved = join_answers.move_availability_from_notes()
    click.echo(f"Moved the availability of {moved} contact(s) out of their notes.")
