"""``flask crm bootstrap``: everything a development install needs before it starts.

``make run`` calls it on every start, in one process: the key file (``keys
generate``), the migrations (``db upgrade``), a check that the keyring loads
(``keys status``), then the first admin (``users create``) and demo data
(``demo``) only on an empty install, so the admin's one-time password is
printed once and the demo data is seeded once.
"""
import click
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import func, select

from ..extensions import db
from ..models import Contact, User
from . import demo, keys, operator_command, users


@click.command("bootstrap")
@click.option("--admin", "login", default="admin", show_default=True,
              help="Login of the first admin, created only when no admin exists.")
@click.option("--demo-contacts", default=300, show_default=True, type=click.IntRange(0),
              help="Synthetic contacts to seed when there are none (0: no demo data).")
@operator_command
def bootstrap(login, demo_contacts):
    """Prepare a development install: keys, migrations, first admin, demo data (each once)."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException(
            "bootstrap is for development: in production use `flask db upgrade` and `flask crm users create`")
    ctx = click.get_current_context()
    if not current_app.config["MUSTER_KEYRING"]:
        ctx.invoke(keys.generate)
    upgrade()
    ctx.invoke(keys.status)
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
