"""``greeter enroll``: staff add photos of guests to the store."""

import signal
from collections import Counter
from pathlib import Path
from typing import Optional, Tuple

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from greeter.cli import open_store, settings_of
from greeter.cli.output import print_table, problem, stderr_console
from greeter.names import escaped
from greeter.people.enrolment import (
    ENROLLED,
    REJECTED,
    SKIPPED,
    Enroller,
    EnrolmentInterrupted,
    PhotoOutcome,
    jobs_for_person,
    jobs_from_folders,
)

DEFAULT_INBOX = Path("enroll")
#: Added to the reason of a photo rejected for several faces.
LARGEST_HINT = "--largest to enrol the largest face"


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(readable=False, path_type=Path))
@click.option("--person", "person_id", metavar="ID",
              help="Enrol the PATHS given as photos of this person (id like alex-mueller).")
@click.option("--name", help="Display name for --person (default: from the id or name.txt).")
@click.option("--largest", is_flag=True,
              help="In photos with several faces, enrol the largest (by default the face that "
                   "is clearly the subject, and a photo where none is is rejected).")
@click.option("--jitter", type=click.IntRange(0, 100), default=None,
              help="Average N jittered copies per embedding (slower, slightly more robust).")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Processes analysing photos (default: one per core).")
@click.pass_context
def enroll(ctx: click.Context, paths: Tuple[Path, ...], person_id: Optional[str],
           name: Optional[str], largest: bool, jitter: Optional[int],
           workers: Optional[int]) -> None:
    """Enrol photos: every person folder in PATHS (default: enroll/), or with --person, the
    photos PATHS of one person.

    A person folder is named by the person's id (enroll/alex-mueller/1.jpg) and may hold a
    name.txt with the display name. Each photo needs one face that is clearly its subject;
    photos that would make wrong names likely (blurred, turned away, tiny faces) are rejected,
    usable but weak ones are enrolled with a warning saying how to do better. Photos already
    enrolled are skipped. Exits with status 1 when any photo was rejected; every good photo is
    enrolled regardless. Ctrl-C or SIGTERM stop at once, keeping
    what was enrolled (exit status 130 or 143).
    """
    settings = settings_of(ctx)
    enrolment = settings.enrolment.model_copy(update={
        key: value for key, value in (("jitter", jitter), ("workers", workers)) if value is not None
    })
    if person_id:
        if not paths:
            raise click.UsageError("--person needs at least one photo")
        jobs, outcomes = jobs_for_person(person_id, name, paths), []
    else:
        if name:
            raise click.UsageError("--name goes with --person (or put a name.txt in the folder)")
        jobs, outcomes = jobs_from_folders(paths or (DEFAULT_INBOX,))
    for outcome in outcomes:
        _report_problem(outcome)
    if not jobs and not any(outcome.status == REJECTED for outcome in outcomes):
        searched = ", ".join(map(str, paths or (DEFAULT_INBOX,)))
        raise click.ClickException(f"no photos found in {searched}")

    with open_store(ctx, create=True) as store, Progress(
        TextColumn("enrolling"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr_console(), transient=True,
    ) as progress:
        store.check_writable("nothing was enrolled")  # before analysing photos it cannot keep
        task = progress.add_task("enrol", total=len(jobs))

        def on_outcome(outcome: PhotoOutcome) -> None:
            progress.advance(task)
            _report_problem(outcome)

        enroller = Enroller(store, settings.detection, enrolment, largest,
                            largest_hint=LARGEST_HINT)
        try:
            outcomes += enroller.run(jobs, on_outcome)
            interrupted = None
        except EnrolmentInterrupted as stopped:
            outcomes += stopped.outcomes
            interrupted = stopped

    print_table(
        "Enrolment",
        ("person", "photo", "outcome", "reason"),
        ((o.person_id or "", str(o.path), o.status, o.reason) for o in outcomes),
    )
    counts = Counter(outcome.status for outcome in outcomes)
    warned = sum(1 for outcome in outcomes if outcome.status == ENROLLED and outcome.warning)
    click.echo(f"{counts[ENROLLED]} enrolled, {counts[SKIPPED]} skipped, "
               f"{counts[REJECTED]} rejected"
               + (f"; {warned} enrolled with a warning: add 1-2 better photos of them"
                  if warned else ""))
    if interrupted is not None:
        click.echo(f"interrupted: {interrupted.not_analysed} photos not analysed (run the same "
                   f"command again to enrol them)")
        ctx.exit(128 + (interrupted.signal_number or signal.SIGINT))
    if counts[REJECTED]:
        ctx.exit(1)


def _report_problem(outcome: PhotoOutcome) -> None:
    if outcome.status == REJECTED:
        problem(f"{escaped(str(outcome.path))}: rejected: {escaped(outcome.reason)}")
    elif outcome.warning:
        problem(f"{escaped(str(outcome.path))}: warning: {escaped(outcome.reason)}")
