"""``flask crm bootstrap``: the first admin and demo data of a development install.

``make run`` calls it on every start; it only acts on an empty install, so the
admin's one-time password is printed once and the demo data is seeded once.
"""
import click
from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import Contact, User
from . import demo, operator_command, users


@click.command("bootstrap")
@click.option("--admin", "login", default="admin", show_default=True,
              help="Login of the first admin, created only when no admin exists.")
@click.option("--demo-contacts", default=300, show_default=True, type=click.IntRange(0),
              help="Synthetic contacts to seed when there are none (0: no demo data).")
@operator_command
def bootstrap(login, demo_contacts):
    """Create the first admin and seed demo data, each only once (development only)."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException(
            "bootstrap is for development: in production use `flask crm users create`")
    ctx = click.get_current_context()
    admins = db.session.scalar(select(func.count()).select_from(User).where(User.role == "admin"))
    if admins:
        click.echo(f"{admins} admin account(s) exist; none created.")
    else:
        ctx.invoke(users.create, login=login, role="admin", clearance=True)
    contacts = db.session.scalar(select(func.count()).select_from(Contact))
    if contacts:
        click.echo(f"{contacts} contacts exist; no demo data added.")
    elif demo_contacts:
        ctx.invoke(demo.demo, count=demo_contacts)


group = bootstrap  # the module's one command, registered like the groups
