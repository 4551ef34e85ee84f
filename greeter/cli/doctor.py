"""``greeter doctor``: one line per check of what the robot needs, and the fix for each problem."""

import dataclasses

import click

from greeter.cli import settings_of
from greeter.cli.output import print_json
from greeter.live.doctor import FAIL, INFO, OK, WARN, ready, run_checks

_MARKS = {OK: "OK  ", WARN: "WARN", FAIL: "FAIL", INFO: "INFO"}


@click.command()
@click.option("--source", default="0", show_default=True,
              help="The camera to try: 0, 1... (USB), csi://0 (Jetson CSI), rtsp://..., a video.")
@click.option("--no-camera", is_flag=True, help="Do not try the camera.")
@click.option("--camera-timeout", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="Seconds the camera has to deliver a frame.")
@click.option("--headless", is_flag=True,
              help="Do not look for a display (for a robot run with `greeter run --headless`).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def doctor(ctx: click.Context, source: str, no_camera: bool, camera_timeout: float,
           headless: bool, as_json: bool) -> None:
    """Check that this machine is ready to run the robot.

    Checks Python and the packages, dlib's BLAS and CUDA, the face models, the store, the
    greetings, the camera, the display, memory and swap, and the Jetson's jetson-stats.

    Prints OK, WARN, FAIL or INFO and what was found for each check, with the fix for every
    problem. Exits with status 1 when any check failed; warnings do not fail.
    """
    checks = run_checks(settings_of(ctx), camera=None if no_camera else source,
                        headless=headless, camera_timeout=camera_timeout)
    if as_json:
        print_json({"ready": ready(checks), "checks": [dataclasses.asdict(c) for c in checks]})
    else:
        for check in checks:
            fix = f"; fix: {check.fix}" if check.fix else ""
            click.echo(f"{_MARKS[check.status]}  {check.name}: {check.detail}{fix}")
        counts = {status: sum(1 for c in checks if c.status == status) for status in _MARKS}
        click.echo(f"{'ready' if ready(checks) else 'NOT READY'}: {counts[FAIL]} failed, "
                   f"{counts[WARN]} warning{'s' if counts[WARN] != 1 else ''}, {counts[OK]} ok")
    if not ready(checks):
        ctx.exit(1)
