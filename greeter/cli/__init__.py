"""The ``greeter`` command: a thin shell over the library.

Each command group lives in a module of its own (`greeter.cli.enroll`, `greeter.cli.people`,
...) and is registered on `main` at the bottom of this file. Commands read `Settings` from the
click context; any `GreeterError` becomes a one-line ``Error: ...`` and exit status 1.
"""

import logging
from pathlib import Path
from typing import Optional

import click

from greeter import __version__
from greeter.errors import GreeterError
from greeter.settings import Settings
from greeter.store import Store


class GreeterGroup(click.Group):
    """A group that shows `GreeterError`s as clean one-line errors, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GreeterError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=GreeterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GREETER_STORE",
    show_envvar=True,
    help="Embedding store (SQLite).  [default: data/greeter.sqlite3]",
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
def main(ctx: click.Context, store: Optional[Path], greetings: Optional[Path],
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


def open_store(ctx: click.Context, create: bool = False) -> Store:
    """The store named by the settings; read-only commands do not create one."""
    return Store(settings_of(ctx).store, create=create)


from greeter.cli import (  # noqa: E402
    calibrate,
    console,
    demo,
    doctor,
    enroll,
    greetings,
    identify,
    people,
    run,
)

main.add_command(enroll.enroll)
main.add_command(identify.identify)
main.add_command(people.people)
main.add_command(calibrate.calibrate)
main.add_command(demo.demo)
main.add_command(greetings.greetings)
main.add_command(run.run)
main.add_command(doctor.doctor)
main.add_command(console.console)
