"""``greeter greetings``: check, list, edit and preview what the robot says to whom."""

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import click

from greeter.cli import open_store, settings_of, shared_greetings
from greeter.cli.output import print_json, print_table, problem
from greeter.errors import ConfigError, StoreError
from greeter.greetings.edit import dump_greetings, remove_greeting, update_greetings, with_greeting
from greeter.greetings.read import greetings_warnings, load_greetings, screen_texts
from greeter.greetings.render import message_for, messages_for
from greeter.greetings.schema import Greetings
from greeter.names import check_person_id
from greeter.people.store import NoStoreYet


@click.group()
def greetings() -> None:
    """What the robot says to whom: the greetings file (see `greetings schema`)."""


@greetings.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def check(ctx: click.Context, file: Optional[Path]) -> None:
    """Validate FILE (by default the configured greetings file).

    Prints one line per problem and exits with status 1 if there is any. Warns, without
    failing, about greetings for ids that are not enrolled and enrolled people without one.
    """
    path = file or settings_of(ctx).greetings
    try:
        with shared_greetings(ctx) if file is None else contextlib.nullcontext():
            config = load_greetings(path)
    except ConfigError as error:
        for line in str(error).splitlines():
            problem(line)
        ctx.exit(1)
    for warning in greetings_warnings(config, path, _enrolled_names(ctx)):
        problem(f"warning: {path}: {warning}")
    from greeter.screen.text import undrawable_warnings  # pygame: only for this command

    for warning in undrawable_warnings(screen_texts(config)):
        problem(f"warning: {path}: {warning}")
    count = len(config.people)
    click.echo(f"{path}: valid, {count} {'person' if count == 1 else 'people'}")


@greetings.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_greetings(ctx: click.Context, as_json: bool) -> None:
    """Who is greeted with what.

    Everybody with a greeting of their own, then what strangers and the other enrolled people
    are told.
    """
    with shared_greetings(ctx):
        config = load_greetings(settings_of(ctx).greetings)
    if as_json:
        print_json([{"id": person_id, **entry.model_dump(mode="json", exclude_none=True)}
                    for person_id, entry in sorted(config.people.items())])
        return
    print_table(f"{len(config.people)} greetings", ("id", "name", "messages"),
                ((person_id, entry.name, entry.messages)
                 for person_id, entry in sorted(config.people.items())))
    click.echo(f"strangers: {' | '.join(config.stranger)}")
    click.echo(f"enrolled people without a greeting: {' | '.join(config.enrolled)}")


@greetings.command("set")
@click.argument("person_id", metavar="ID")
@click.option("--name", help="Display name for {name}.  [default: the current one, else the "
              "name in the store, else made from ID]")
@click.option("--message", "messages", multiple=True, required=True,
              help="A template such as 'Welcome back, {first_name}!'. Repeat for several: "
              "they take turns, one per visit.")
@click.option("--add", is_flag=True, help="Add the messages to ID's current ones instead of "
              "replacing them.")
@click.pass_context
def set_greeting(ctx: click.Context, person_id: str, name: Optional[str],
                 messages: Tuple[str, ...], add: bool) -> None:
    """Give ID (the id they are enrolled under) their own messages.

    The file is validated before it is written and never left half-written; it is created
    when missing.
    """
    check_person_id(person_id)
    path = settings_of(ctx).greetings
    enrolled = _enrolled_names(ctx)
    name_in_store = (enrolled or {}).get(person_id)
    _warn_if_not_enrolled(person_id, enrolled)
    with shared_greetings(ctx) as home:
        before, after = update_greetings(path, lambda config: with_greeting(
            config, person_id, messages, name, add, name_in_store), home)
    if dump_greetings(before) == dump_greetings(after):
        click.echo(f"{person_id} already has these messages; {path} is unchanged")
    else:
        click.echo(f"{person_id} ({after.people[person_id].name}) is now greeted with:")
    for line in _rendered_in_turn(after, person_id, name_in_store):
        click.echo(f"  {line}")


@greetings.command("remove")
@click.argument("person_id", metavar="ID")
@click.pass_context
def remove_greeting_command(ctx: click.Context, person_id: str) -> None:
    """Delete ID's greeting.

    If they are enrolled, they get the greeting for enrolled people without one.
    """
    path = settings_of(ctx).greetings
    with shared_greetings(ctx) as home:
        load_greetings(path)  # a missing or invalid file is reported as such
        if not remove_greeting(path, person_id, home):
            raise ConfigError(f"{path}: no greeting for '{person_id}'")
    click.echo(f"removed the greeting for {person_id} from {path}")


@greetings.command()
@click.argument("person_id", metavar="ID", required=False)
@click.option("--stranger", is_flag=True, help="What strangers are told.")
@click.pass_context
def preview(ctx: click.Context, person_id: Optional[str], stranger: bool) -> None:
    """What the robot would say now to ID, or to a stranger.

    One line per message, in the order they take turns from visit to visit.
    """
    if stranger == (person_id is not None):
        raise click.UsageError("give either an ID or --stranger")
    with shared_greetings(ctx):
        config = load_greetings(settings_of(ctx).greetings)
    name_in_store = None
    if person_id is not None:
        check_person_id(person_id)
        enrolled = _enrolled_names(ctx)
        name_in_store = (enrolled or {}).get(person_id)
        _warn_if_not_enrolled(person_id, enrolled)
        if person_id not in config.people:
            problem(f"note: {person_id} has no greeting of their own; this is what enrolled "
                    f"people without one are told")
    for line in _rendered_in_turn(config, person_id, name_in_store):
        click.echo(line)


@greetings.command()
def schema() -> None:
    """Print the JSON Schema of the greetings file.

    Every key is described; editors that understand JSON Schema can check the file as it is
    typed.
    """
    print_json(Greetings.model_json_schema())


def _rendered_in_turn(config: Greetings, person_id: Optional[str],
                      name_in_store: Optional[str]) -> List[str]:
    now = datetime.now()
    return [message_for(config, person_id, now, visit, name_in_store)
            for visit in range(len(messages_for(config, person_id)))]


def _warn_if_not_enrolled(person_id: str, enrolled: Optional[Dict[str, str]]) -> None:
    """A mistyped id is greeted by nobody: say so (a greeting may still be written before the
    person is enrolled, so this is a warning)."""
    if enrolled is not None and person_id not in enrolled:
        problem(f"warning: nobody with id '{person_id}' is enrolled (greeter people list); "
                f"the robot greets nobody with this")


def _enrolled_names(ctx: click.Context) -> Optional[Dict[str, str]]:
    """Id -> display name of everybody enrolled; None when there is no store to ask."""
    try:
        with open_store(ctx) as store:
            return {person.id: person.name for person in store.people()}
    except NoStoreYet:
        return None
    except StoreError as error:
        problem(f"warning: {error}; enrolled people not consulted")
        return None
