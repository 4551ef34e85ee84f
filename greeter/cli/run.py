"""``greeter run``: the robot."""

from pathlib import Path
from typing import Optional, Tuple

import click

from greeter.cli import settings_of


def _window_size(ctx, param, value: Optional[str]) -> Optional[Tuple[int, int]]:
    if value is None:
        return None
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter("use WIDTHxHEIGHT, e.g. 800x480") from None
    if width < 320 or height < 240:
        raise click.BadParameter("the smallest window is 320x240")
    return width, height


@click.command()
@click.option("--source", default="0", show_default=True,
              help="Camera index (0), csi://0 (Jetson CSI camera), rtsp://..., a video file, "
                   "or a folder of images.")
@click.option("--realtime", is_flag=True,
              help="Pace video files at their frame rate (default: as fast as possible).")
@click.option("--window", callback=_window_size, metavar="WxH",
              help="A window of this size instead of fullscreen.")
@click.option("--headless", is_flag=True, help="No display at all (screenshots still work).")
@click.option("--events-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Append one JSON line per greeting to this file.")
@click.option("--screenshot-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Save the screen at each greeting: that greeting alone, every face but the "
                   "greeted person's pixelated.")
@click.option("--speak", is_flag=True, help="Say each greeting through espeak-ng.")
@click.pass_context
def run(ctx: click.Context, source: str, realtime: bool, window: Optional[Tuple[int, int]],
        headless: bool, events_out: Optional[Path], screenshot_dir: Optional[Path],
        speak: bool) -> None:
    """Run the greeter: recognise guests in front of the camera and welcome them.

    SIGTERM quits; in a --window, Esc and q too (fullscreen ignores keys: a stray key must not
    end the kiosk). A video file or image folder ends the run at its end.
    """
    from greeter.live.robot import Greeter, RunOptions

    options = RunOptions(source=source, realtime=realtime, window=window, headless=headless,
                         events_out=events_out, screenshot_dir=screenshot_dir, speak=speak)
    summary = Greeter(settings_of(ctx), options).run()
    click.echo(f"{summary.frames} frames in {summary.seconds:.1f} s, "
               f"{summary.greeted} greetings", err=True)
    earlier = summary.screenshots_saved - len(summary.screenshots)
    if earlier:
        click.echo(f"{earlier} earlier screenshot{'s' if earlier != 1 else ''} in "
                   f"{screenshot_dir}", err=True)
    for path in summary.screenshots:
        click.echo(f"screenshot: {path}", err=True)
    failures = ", ".join(f"{name} {count}" for name, count in summary.output_failures.items()
                         if count)
    if failures:
        click.echo(f"outputs that failed (the run went on): {failures}", err=True)
