"""``greeter people``: list, inspect, rename and remove enrolled people; export and import
them as a bundle."""

from pathlib import Path

import click

from greeter.cli import open_store, settings_of, shared_greetings
from greeter.cli.output import print_json, print_table, problem
from greeter.errors import ConfigError, StoreError
from greeter.greetings.edit import rename_greeting
from greeter.names import check_name, escaped
from greeter.people.bundle import (
    bundle_content,
    bundle_from_bytes,
    export_bundle,
    import_bundle,
    read_bundle,
)
from greeter.people.enrolment import face_advice
from greeter.people.erasure import erase_person
from greeter.people.hints import quality_hint
from greeter.people.store import (
    IMPORT_ADDED,
    IMPORT_REPLACED,
    IMPORT_SKIPPED,
    NoStoreYet,
    StoreDamaged,
)
from greeter.recognition.faces import MODEL_ID


@click.group()
def people() -> None:
    """Enrolled people: list, show, rename, remove, export, import."""


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_people(ctx: click.Context, as_json: bool) -> None:
    """Everybody enrolled, with their number of photos and what would make them recognised
    more often (a single photo, only weak photos: add 1-2 more)."""
    everyone, qualities = _people_or_nobody(ctx)
    enrolment = settings_of(ctx).enrolment
    hints = {p.id: "" if qualities is None else quality_hint(qualities.get(p.id, []), enrolment)
             for p in everyone}
    if as_json:
        print_json([{"id": p.id, "name": p.name, "photos": p.photos, "created": p.created,
                     "hint": hints[p.id]} for p in everyone])
        return
    if not everyone:
        click.echo("nobody is enrolled")
        return
    print_table(f"{len(everyone)} people", ("id", "name", "photos", "enrolled", "hint"),
                ((p.id, p.name, p.photos, p.created, hints[p.id]) for p in everyone))


@people.command()
@click.argument("person_id", metavar="ID")
@click.pass_context
def show(ctx: click.Context, person_id: str) -> None:
    """One person and the photos enrolled for them, with advice on weak photos."""
    with open_store(ctx) as store:
        person = store.person(person_id)
        if person is None:
            raise StoreError(f"nobody with id '{person_id}' is enrolled")
        photos = store.photos(person_id)
    enrolment = settings_of(ctx).enrolment
    hint = quality_hint([(p.face_size, p.sharpness) for p in photos], enrolment)
    click.echo(f"{person.id}: {escaped(person.name)} (enrolled {person.created})"
               + (f": {hint}" if hint else ""))
    print_table(f"{len(photos)} photo{'s' if len(photos) != 1 else ''}",
                ("photo", "face px", "sharpness", "sha256", "enrolled"),
                ((p.photo_name, p.face_size, f"{p.sharpness:.0f}", p.photo_sha256[:12], p.created)
                 for p in photos))
    for photo in photos:
        for advice in face_advice(photo.face_size, photo.sharpness, None, enrolment):
            click.echo(f"{escaped(photo.photo_name)}: {advice}")


@people.command()
@click.argument("person_id", metavar="ID")
@click.argument("name")
@click.option("--greeting-name", "own_name_too", is_flag=True,
              help="Rename their greeting too when it has a name of its own.")
@click.pass_context
def rename(ctx: click.Context, person_id: str, name: str, own_name_too: bool) -> None:
    """Change a person's display name, and their greeting's unless it has a name of its own
    (then only with --greeting-name)."""
    name = check_name(name, person_id)
    with open_store(ctx) as store:
        before = store.person(person_id)
        store.rename(person_id, name)
    click.echo(f"{person_id} is now called {escaped(name)}")
    path = settings_of(ctx).greetings
    try:
        with shared_greetings(ctx) as home:
            renamed = rename_greeting(path, person_id, name, before.name if before else None,
                                      own_name_too, home)
    except ConfigError as error:
        raise ConfigError(f"{error}\n{person_id}'s greeting in {path} still has the old name: "
                          f"fix the file, then run `greeter greetings set {person_id} --name "
                          f"...`") from None
    if renamed:
        click.echo(f"renamed {person_id} in {path} too")


@people.command()
@click.argument("person_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def remove(ctx: click.Context, person_id: str, yes: bool) -> None:
    """Erase a person and every embedding of theirs from the store, and their greeting."""
    with open_store(ctx) as store:
        if store.person(person_id) is None:
            raise StoreError(f"nobody with id '{person_id}' is enrolled")
        store.check_writable(f"{person_id} was not removed")  # before asking to confirm
        if not yes:
            click.confirm(f"Erase {person_id} and all their photos?", abort=True)
        erased = erase_person(store, settings_of(ctx).greetings, person_id)
    click.echo(erased.summary())
    if erased.greeting_problem:
        raise ConfigError(erased.greeting_problem)


def _people_or_nobody(ctx: click.Context):
    """Everybody enrolled and their photos' (face size, sharpness); nobody without a store.

    A store whose photos cannot be read any more still lists its people (without hints), with
    the damage named on stderr."""
    try:
        store = open_store(ctx)
    except NoStoreYet:
        return [], {}
    with store:
        everyone = store.people()
        try:
            return everyone, store.photo_qualities()
        except StoreDamaged as damage:
            problem(f"{escaped(str(damage))} (the hints are left out)")
            return everyone, None


@people.command("export")
@click.argument("file", type=click.Path(path_type=Path, allow_dash=True))
@click.pass_context
def export_people(ctx: click.Context, file: Path) -> None:
    """Write everybody enrolled to the bundle FILE, for the robot.

    The bundle holds ids, names and embeddings, never a photo; import it on the robot with
    `greeter people import FILE`. An existing FILE is replaced. The bundle is readable by you
    alone: it holds biometric data, so delete it once imported. FILE `-` is standard output
    (the robot's /usr/local/bin/greeter writes the admin's file so), and this report goes to
    standard error.
    """
    to_stdout = str(file) == "-"
    with open_store(ctx) as store:
        if to_stdout:
            exported, content = bundle_content(store)
            click.open_file("-", "wb").write(content)
        else:
            exported = export_bundle(store, file)
        model_id = store.model_id
    embeddings = sum(len(person.embeddings) for person in exported)
    click.echo(f"exported {_count(len(exported), 'person', 'people')} and "
               f"{_count(embeddings, 'embedding')} (model {model_id}) to "
               f"{'standard output' if to_stdout else file}; it holds biometric data: "
               "delete it once imported", err=to_stdout)


_IMPORT_VERBS = {IMPORT_ADDED: ("added", "would add"),
                 IMPORT_REPLACED: ("replaced", "would replace"),
                 IMPORT_SKIPPED: ("skipped", "would skip")}


@people.command("import")
@click.argument("file", type=click.Path(path_type=Path, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Check FILE and say what the import would do, "
              "without changing the store.")
@click.pass_context
def import_people(ctx: click.Context, file: Path, dry_run: bool) -> None:
    """Add or update the people of the bundle FILE, all or nothing.

    FILE comes from `greeter people export`. A person not in the store is added; one with the
    same name and the same photos is skipped; anyone else is replaced (name, date and
    embeddings from FILE). People of the store that FILE does not name stay as they are.
    FILE is checked completely first: a damaged bundle, or one of another embedding model,
    changes nothing. FILE `-` is standard input (the robot's /usr/local/bin/greeter passes the
    admin's file so).
    """
    store_path = settings_of(ctx).store
    if str(file) == "-":
        file = Path("standard input")
        bundle = bundle_from_bytes(click.open_file("-", "rb").read(), file, MODEL_ID)
    else:
        bundle = read_bundle(file, MODEL_ID)
    report = import_bundle(bundle, lambda create: open_store(ctx, create), dry_run=dry_run)
    for person in report.people:
        verb = _IMPORT_VERBS[person.outcome][dry_run]
        if person.outcome == IMPORT_SKIPPED:
            change = "unchanged"
        elif person.outcome == IMPORT_REPLACED:
            change = f"{person.photos_before} -> {_count(person.photos, 'photo')}"
        else:
            change = _count(person.photos, "photo")
        click.echo(f"{verb} {person.id} ({person.name}): {change}")
    added, replaced, skipped = (report.count(outcome)
                                for outcome in (IMPORT_ADDED, IMPORT_REPLACED, IMPORT_SKIPPED))
    if dry_run:
        click.echo(f"dry run, nothing written to {store_path}: would add {added}, replace "
                   f"{replaced}, skip {skipped}")
    else:
        click.echo(f"imported {file} into {store_path}: {added} added, {replaced} replaced, "
                   f"{skipped} skipped")
    if report.not_imported:
        click.echo(f"not in the bundle, left as they are: {', '.join(report.not_imported)}")


def _count(number: int, singular: str, plural: str = "") -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"
