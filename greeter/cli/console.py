"""``greeter console``: serve the web console; set its password; make and revoke API tokens."""

import ipaddress
import sys
from typing import Optional, Tuple

import click

from greeter.cli import open_store, settings_of
from greeter.console.auth import Credentials
from greeter.console.serving import listening_socket, serve, url_host
from greeter.settings import ServerAddress

DEFAULT_LISTEN = "127.0.0.1:8080"


def _listen_address(ctx, param, value: str) -> Tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"'{value}' is not HOST:PORT, e.g. {DEFAULT_LISTEN} or "
                                 "0.0.0.0:8080 for the event's network")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _credentials(ctx: click.Context) -> Credentials:
    """The console's credentials: this machine's files, or a shared store's server's."""
    settings = settings_of(ctx)
    if not isinstance(settings.store, ServerAddress):
        return Credentials(settings.local_folder)
    store = ctx.with_resource(open_store(ctx, create=True))
    return Credentials(settings.local_folder, lambda: store)


@click.group(invoke_without_command=True)
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, callback=_listen_address,
              metavar="HOST:PORT", help="Address to serve on; 0.0.0.0:8080 for every network "
              "of the robot (needs a password: `greeter console set-password`).")
@click.pass_context
def console(ctx: click.Context, listen: Tuple[str, int]) -> None:
    """Serve the web console for staff (people, enrolment, greetings, bundles, status).

    It uses the store and greetings file of the global options; the password and API tokens
    live in private files beside the store.
    """
    if ctx.invoked_subcommand is not None:
        return
    host, port = listen
    credentials = _credentials(ctx)
    if not is_loopback(host) and not credentials.has_password():
        raise click.ClickException(
            f"refusing to serve on {host} without a password: set one first with "
            "`greeter console set-password` (on 127.0.0.1 it starts without one, but nobody "
            "can sign in until one is set)")
    from greeter.console.app import create_app

    app = create_app(settings_of(ctx))
    shown = url_host(host)
    listening = listening_socket(host, port, f"stop it or choose --listen {shown}:OTHERPORT")
    click.echo(f"greeter console on http://{shown}:{port}/ (store {settings_of(ctx).store})",
               err=True)
    if not credentials.has_password():
        click.echo(f"warning: no password is set, so nobody can sign in: run `greeter --store "
                   f"{settings_of(ctx).store} console set-password`", err=True)
    serve(app, listening)


@console.command("set-password")
@click.pass_context
def set_password(ctx: click.Context) -> None:
    """Set the admin password, read from standard input (asked twice on a terminal)."""
    if sys.stdin.isatty():
        password: Optional[str] = click.prompt("New console password", hide_input=True,
                                               confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    credentials = _credentials(ctx)
    credentials.set_password(password or "")
    click.echo(f"console password set ({credentials.password_file}); signed-in browsers stay "
               "signed in until the console restarts")


@console.group()
def token() -> None:
    """API tokens for registration systems (Authorization: Bearer TOKEN)."""


@token.command("create")
@click.argument("name")
@click.pass_context
def create_token(ctx: click.Context, name: str) -> None:
    """Make a token called NAME and print it, once: only its hash is kept."""
    value = _credentials(ctx).create_token(name)
    click.echo(value)
    click.echo(f"token '{name}' created; it is shown only this once: keep it in the "
               "registration system's secrets", err=True)


@token.command("revoke")
@click.argument("name")
@click.pass_context
def revoke_token(ctx: click.Context, name: str) -> None:
    """Revoke the token NAME: it stops working at once."""
    _credentials(ctx).revoke_token(name)
    click.echo(f"token '{name}' revoked")


@token.command("list")
@click.pass_context
def list_tokens(ctx: click.Context) -> None:
    """The names of the tokens (never the tokens themselves)."""
    for name in _credentials(ctx).token_names():
        click.echo(name)
