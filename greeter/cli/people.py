"""``greeter people``: list, inspect, rename and remove enrolled people."""

import click

from greeter.cli import open_store, settings_of
from greeter.cli.output import print_json, print_table
from greeter.errors import ConfigError, StoreError
from greeter.greetings import remove_greeting


@click.group()
def people() -> None:
    """Enrolled people: list, show, rename, remove."""


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_people(ctx: click.Context, as_json: bool) -> None:
    """Everybody enrolled, with their number of photos."""
    everyone = _people_or_nobody(ctx)
    if as_json:
        print_json([{"id": p.id, "name": p.name, "photos": p.photos, "created": p.created}
                    for p in everyone])
        return
    if not everyone:
        click.echo("nobody is enrolled")
        return
    print_table(f"{len(everyone)} people", ("id", "name", "photos", "enrolled"),
                ((p.id, p.name, p.photos, p.created) for p in everyone))


@people.command()
@click.argument("person_id", metavar="ID")
@click.pass_context
def show(ctx: click.Context, person_id: str) -> None:
    """One person and the photos enrolled for them."""
    with open_store(ctx) as store:
        person = store.person(person_id)
        if person is None:
            raise StoreError(f"nobody with id '{person_id}' is enrolled")
        photos = store.photos(person_id)
    click.echo(f"{person.id}: {person.name} (enrolled {person.created})")
    print_table(f"{len(photos)} photos", ("photo", "face px", "sharpness", "sha256", "enrolled"),
                ((p.photo_name, p.face_size, f"{p.sharpness:.0f}", p.photo_sha256[:12], p.created)
                 for p in photos))


@people.command()
@click.argument("person_id", metavar="ID")
@click.argument("name")
@click.pass_context
def rename(ctx: click.Context, person_id: str, name: str) -> None:
    """Change a person's display name."""
    with open_store(ctx) as store:
        store.rename(person_id, name)
    click.echo(f"{person_id} is now called {name.strip()}")


@people.command()
@click.argument("person_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def remove(ctx: click.Context, person_id: str, yes: bool) -> None:
    """Erase a person and every embedding of theirs from the store, and their greeting."""
    with open_store(ctx) as store:
        if store.person(person_id) is None:
            raise StoreError(f"nobody with id '{person_id}' is enrolled")
        if not yes:
            click.confirm(f"Erase {person_id} and all their embeddings?", abort=True)
        count = store.remove(person_id)
    click.echo(f"removed {person_id} and {count} embedding{'s' if count != 1 else ''}")
    _remove_greeting_of(ctx, person_id)


def _remove_greeting_of(ctx: click.Context, person_id: str) -> None:
    """Erasing a person erases everything about them, their name in the greetings included."""
    path = settings_of(ctx).greetings
    try:
        removed = remove_greeting(path, person_id)
    except ConfigError as error:
        raise ConfigError(f"{error}\n{person_id}'s greeting is still in {path}: fix the file, "
                          f"then run `greeter greetings remove {person_id}`") from None
    if removed:
        click.echo(f"removed {person_id}'s greeting from {path}")


def _people_or_nobody(ctx: click.Context):
    try:
        store = open_store(ctx)
    except StoreError:
        if not ctx.find_root().obj.store.exists():
            return []
        raise
    with store:
        return store.people()
