"""``greeter demo``: see it work without a camera (what ``make demo`` runs)."""

import click

from greeter.live.demo import DEMO_PERSON, run_demo


@click.command()
def demo() -> None:
    """Enrol a public-domain face into a temporary store and recognise it in a changed copy."""
    faces = run_demo(click.echo)
    if not any(face.person == DEMO_PERSON for face in faces):
        raise click.ClickException("the demo face was not recognised")
