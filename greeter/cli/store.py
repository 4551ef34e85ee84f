"""``greeter store``: move an event's people between an SQLite file and a PostgreSQL server."""

import click

from greeter.errors import GreeterError
from greeter.people.move import copy_store
from greeter.people.store import open_store
from greeter.settings import Settings


def _location(ctx, param, value: str):
    """A store file's path or a server's address, as ``--store`` takes them."""
    try:
        return Settings.load(environ={}, store=value).store
    except GreeterError as error:
        raise click.BadParameter(str(error).split("Value error, ", 1)[-1]) from None


@click.group()
def store() -> None:
    """The store itself (people are managed with `greeter people`)."""


@store.command("copy")
@click.argument("source", metavar="FROM", callback=_location)
@click.argument("target", metavar="TO", callback=_location)
@click.pass_context
def copy(ctx: click.Context, source, target) -> None:
    """Copy everybody, their embeddings by every model and the calibration from the store
    FROM into the empty store TO, then check the copy by counts and a checksum.

    FROM and TO are each an SQLite file or postgresql://USER@HOST[:PORT]/DB: an event that
    grows from one robot to several moves its file onto a server, and back when it ends.
    FROM is only read; TO must hold nobody (merge with `greeter people import` instead).
    """
    from greeter.cli import settings_of

    local = settings_of(ctx).local_folder
    with open_store(source, local, create=False) as origin, \
            open_store(target, local, create=True) as destination:
        report = copy_store(origin, destination)
    embeddings = ", ".join(f"{count} of {model}"
                           for model, count in sorted(report.target.embeddings.items()))
    people, photos = report.target.people, report.target.photos
    click.echo(f"copied {people} {'person' if people == 1 else 'people'} and {photos} "
               f"photo{'' if photos == 1 else 's'} "
               f"({embeddings or 'no embeddings'}) from {origin.location} to "
               f"{destination.location}")
    click.echo(f"checked: the same counts and checksum in both (sha256 "
               f"{report.target.checksum})")
