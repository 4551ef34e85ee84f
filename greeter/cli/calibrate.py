"""``greeter calibrate``: choose the matching threshold and ratio for this event's people, for
still photos and for the live robot's tracks."""

from pathlib import Path
from typing import Dict, List

import click
import numpy as np

from greeter.cli import open_store, settings_of
from greeter.errors import GreeterError
from greeter.people.enrolment import analyse_photos
from greeter.recognition.calibration import (
    choose_track_policy,
    enrolled_track_trials,
    stranger_track_trials,
    track_rates,
)
from greeter.recognition.figures import FIGURES, tracking_for
from greeter.recognition.imaging import is_photo_name
from greeter.recognition.matching import Trials, choose_policy, leave_one_out_trials, rates
from greeter.recognition.recogniser import resolve_policy, resolve_track_policy
from greeter.recognition.sface import why_not_runnable


@click.command()
@click.option("--strangers", "strangers_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of photos of people who are NOT enrolled (searched recursively; the "
              "photos of one sub-folder are taken as one person's).")
@click.option("--target-far", type=click.FloatRange(0.0, 1.0), default=0.01, show_default=True,
              help="Largest share of strangers that may be greeted with a name.")
@click.option("--max-wrong", type=click.FloatRange(0.0, 1.0), default=0.003, show_default=True,
              help="Largest share of enrolled photos that may get somebody else's name.")
@click.option("--dry-run", is_flag=True, help="Show the result without saving it.")
@click.pass_context
def calibrate(ctx: click.Context, strangers_dir: Path, target_far: float, max_wrong: float,
              dry_run: bool) -> None:
    """Choose threshold and ratio from the enrolled people's own photos and photos of strangers.

    Still photos (identify): each enrolled photo of a person with two or more photos is matched
    against everybody else (leave one out); each stranger photo against everybody. The live
    robot's track rule: each such person walks past with their other photos, each stranger
    (a sub-folder's photos, or one photo) too, as simulated tracks
    (greeter.recognition.calibration). For both, the policy that names the most guests
    correctly within both limits is saved in the store and used by identify and run, and the
    command reports the share of guests the robot can expect to greet by name and of strangers
    it would name. Stranger embeddings are computed in memory and never stored. The model is
    the robot's (GREETER_RECOGNITION__MODEL); each model's calibration is saved apart.
    """
    settings = settings_of(ctx)
    model = settings.recognition.model
    figures = FIGURES[model]
    if figures is not FIGURES["dlib"]:
        problem = why_not_runnable()
        if problem:
            raise GreeterError(f"cannot calibrate {model} on this machine: {problem}")
    with open_store(ctx) as store:
        if not dry_run:  # before analysing photos for a calibration it could not save
            store.check_writable("the calibration was not saved")
        gallery = store.gallery(figures.model_id)
        current = resolve_policy(settings.matching, store.calibration(figures.model_id),
                                 len(gallery), figures.policy)
        enrolled = leave_one_out_trials(gallery)
        if len(enrolled.distance) < 10:
            raise GreeterError(
                f"calibration needs at least 10 enrolled photos of people with 2 or more photos; "
                f"the store has {len(enrolled.distance)}"
            )
        photos = sorted(p for p in strangers_dir.rglob("*") if p.is_file() and is_photo_name(p))
        enrolment = settings.enrolment.model_copy(update={"min_face_size": 0, "min_sharpness": 0})
        by_stranger: Dict[Path, List[np.ndarray]] = {}
        for path, result in analyse_photos(photos, settings.detection, enrolment, largest=True):
            if isinstance(result, GreeterError):
                continue
            embedding = (result.embedding if figures.model_id == store.model_id
                         else result.more.get(figures.model_id))
            if embedding is not None:
                stranger = path if path.parent == strangers_dir else path.parent
                by_stranger.setdefault(stranger, []).append(embedding)
        embeddings = [vector for group in by_stranger.values() for vector in group]
        if len(embeddings) < 20:
            raise GreeterError(
                f"{strangers_dir}: found faces in {len(embeddings)} photos; calibration needs at "
                f"least 20 strangers"
            )
        distances = gallery.person_distances(embeddings)
        strangers = Trials.from_distances(distances, [-1] * len(embeddings))
        chosen = choose_policy(enrolled, strangers, target_far, max_wrong,
                               figures.max_threshold)
        for label, policy in (("current", current), ("calibrated", chosen)):
            measured = rates(policy, enrolled, strangers)
            click.echo(
                f"{label:>10}: threshold {policy.threshold:.4f}, ratio {policy.ratio:.2f}: "
                f"{measured.correct:.1%} correct, {measured.wrong_name:.1%} wrong name, "
                f"{measured.strangers_named:.1%} of {len(embeddings)} strangers named "
                f"({len(enrolled.distance)} enrolled photos)"
            )
        tracking = tracking_for(settings.tracking, figures)
        guests = enrolled_track_trials(gallery, tracking)
        stranger_tracks = stranger_track_trials(list(by_stranger.values()), gallery, tracking)
        current_track = resolve_track_policy(
            settings.matching, store.track_calibration(figures.model_id), len(gallery),
            figures.track_policy)
        chosen_track = choose_track_policy(guests, stranger_tracks, tracking, target_far,
                                           max_wrong, figures.track_thresholds)
        for label, policy in (("current", current_track), ("calibrated", chosen_track)):
            expected = track_rates(guests, stranger_tracks, policy, tracking)
            click.echo(
                f"{label:>10} live: threshold {policy.threshold:.4f}, ratio {policy.ratio:.2f}: "
                f"{expected.correct:.1%} of guests greeted by name, {expected.wrong_name:.1%} "
                f"wrong name, {expected.strangers_named:.1%} of {len(stranger_tracks)} strangers "
                f"named ({len(guests)} guests walking past)"
            )
        if dry_run:
            click.echo("dry run: nothing saved")
        else:
            store.save_calibration(chosen, chosen_track, figures.model_id)
            click.echo(f"saved in {store.path} for {model}")
