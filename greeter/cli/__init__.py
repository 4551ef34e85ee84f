"""The ``greeter`` command: a thin shell over the library.

Each command group lives in a module of its own (`greeter.cli.enroll`, `greeter.cli.people`,
...), named in `COMMANDS` and imported only when its command runs (or for ``--help``): the
robot's long-running `greeter run` then does not hold the other commands' modules (3.3 MB,
measured with RSS after the imports). Commands read `Settings` from the click context; any
`GreeterError` becomes a one-line ``Error: ...`` and exit status 1.

Exports: `main`, the ``greeter`` command (run by ``python -m greeter`` and the console script).

May import: ground, recognition, screen, greetings, people, live, console
"""

import importlib
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import click

from greeter import __version__
from greeter.errors import GreeterError
from greeter.greetings.edit import GreetingsHome, current_greetings
from greeter.people import store as people_store
from greeter.people.store import StoreBase
from greeter.settings import ServerAddress, Settings

#: The commands, each the object of the same name in the module of the same name.
COMMANDS = ("calibrate", "console", "demo", "doctor", "enroll", "greetings", "identify",
            "people", "run", "store")


class GreeterGroup(click.Group):
    """A group of the `COMMANDS`, imported when used, that shows `GreeterError`s as clean
    one-line errors, without a traceback."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name not in COMMANDS:
            return None
        return getattr(importlib.import_module(f"greeter.cli.{name}"), name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GreeterError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=GreeterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    envvar="GREETER_STORE",
    show_envvar=True,
    metavar="FILE|URL",
    help="Where enrolled people are kept: an SQLite file, or a server shared by several "
    "robots, postgresql://USER@HOST[:PORT]/DB (the password in ~/.pgpass or passfile=).  "
    "[default: data/greeter.sqlite3]",
)
@click.option(
    "--greetings",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GREETER_GREETINGS",
    show_envvar=True,
    help="Greeting mappings.  [default: config/greetings.json]",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="greeter")
@click.pass_context
def main(ctx: click.Context, store: Optional[str], greetings: Optional[Path],
         verbose: int) -> None:
    """Edge face-recognition greeter: enrol guests, manage greetings, run the robot."""
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        ctx.obj = Settings.load(store=store, greetings=greetings)
    except GreeterError as error:
        raise click.ClickException(str(error)) from None


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


@contextmanager
def shared_greetings(ctx: click.Context) -> Iterator[Optional[GreetingsHome]]:
    """With a shared store (a server), its greetings, kept for the command, and this machine's
    greetings file brought up to date from them (commands that read the file read the
    fleet's); None with a store file."""
    settings = settings_of(ctx)
    if not isinstance(settings.store, ServerAddress):
        yield None
        return
    with open_store(ctx, create=True) as store:
        home = store.greetings_home()
        current_greetings(settings.greetings, home)
        yield home


def open_store(ctx: click.Context, create: bool = False) -> StoreBase:
    """The store named by the settings; read-only commands do not create one."""
    settings = settings_of(ctx)
    return people_store.open_store(settings.store, settings.local_folder, create=create)
