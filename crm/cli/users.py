"""``flask crm users``: staff accounts."""
import click

from ..models.enums import ROLES
from ..services import auth as auth_service
from ..services import sessions
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


def _login_option(func):
    return click.option("--login", required=True, help="The account's login name.")(func)


@group.command("list")
@operator_command
def list_users():
    """List accounts: role, clearance, state, second factor, live sessions."""
    states = auth_service.account_states()
    if not states:
        click.echo("No accounts yet: create one with `flask crm users create`.")
        return
    click.echo(f"{'login':<24} {'role':<12} {'clear':<5} {'state':<9} {'totp':<4} {'sessions':>8}  last sign-in")
    for s in states:
        user = s.user
        state = "disabled" if not user.active else ("locked" if s.locked else "active")
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        click.echo(f"{user.login:<24} {user.role:<12} {'yes' if user.restricted_clearance else 'no':<5} "
                   f"{state:<9} {'yes' if user.totp_enabled else 'no':<4} {s.live_sessions:>8}  {last}")


@group.command("disable")
@_login_option
@operator_command
def disable(login):
    """Disable an account; its sessions end at once."""
    user = auth_service.disable_user(auth_service.user_by_login(login).id)
    click.echo(f"Disabled {user.login!r}; its sessions are ended.")


@group.command("enable")
@_login_option
@operator_command
def enable(login):
    """Enable a disabled account again."""
    user = auth_service.enable_user(auth_service.user_by_login(login).id)
    click.echo(f"Enabled {user.login!r}.")


@group.command("reset-totp")
@_login_option
@operator_command
def reset_totp(login):
    """Forget the authenticator and recovery codes; the next sign-in enrols a new one."""
    user = auth_service.reset_totp(auth_service.user_by_login(login).id)
    click.echo(f"Reset the second factor of {user.login!r}; it enrols again at the next sign-in. "
               "Its sessions are ended.")


@group.command("unlock")
@_login_option
@operator_command
def unlock(login):
    """Lift a lockout after too many failed sign-ins."""
    user = auth_service.unlock_user(auth_service.user_by_login(login).id)
    click.echo(f"Unlocked {user.login!r}.")


@group.command("reinstate")
@_login_option
@operator_command
def reinstate(login):
    """End a suspension by the access watch (docs/decisions/0023-access-alerts-and-lockdown.md)."""
    from ..services import access_alerts

    user = access_alerts.reinstate(auth_service.user_by_login(login).id, None)
    click.echo(f"Reinstated {user.login!r}.")


@group.command("end-sessions")
@_login_option
@operator_command
def end_sessions(login):
    """Sign an account out everywhere (a lost laptop, a stolen phone)."""
    count = auth_service.end_sessions(auth_service.user_by_login(login).id)
    click.echo(f"Ended {count} session(s) of {login!r}.")


@group.command("purge-sessions")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="Keep sessions seen or ended within this many days.")
@operator_command
def purge_sessions(days):
    """Delete old, ended session rows (a retention chore; live sessions are kept)."""
    count = sessions.purge(days)
    click.echo(f"Deleted {count} old session row(s).")
