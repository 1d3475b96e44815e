"""``flask crm users``: staff accounts."""
import click

from ..models.enums import ROLES
from ..services import users as user_service
from . import operator_command

group = click.Group("users", help="Staff accounts.")


@group.command("create")
@click.option("--login", required=True, help="Login name (a call sign is fine).")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--clearance", is_flag=True, help="May see restricted paths.")
@operator_command
def create(login, role, clearance):
    """Create an account and print its one-time password (shown once)."""
    user, password = user_service.create_user(login, role, clearance)
    click.echo(f"Created {role} {user.login!r}. One-time password (shown once, change at first sign-in):")
    click.echo(password)
