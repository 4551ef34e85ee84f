"""The robot: frames in, greetings on screen. Wires the pipeline's stages together.

::

    reader ──frames──▶ motion gate ─▶ scan plan ─▶ detection (2 threads, `live.detection`)
       │                                                │ boxes
       │                                                ▼
       │                     identity (1 process) ◀── tracker ──▶ policy ─▶ greeting ─▶ outputs
       │                     embed ─▶ match ──votes──▶ (settled)             screen, events,
       └──newest frame──▶ screen (the main thread only draws)                screenshots, voice

* **The main thread draws** (pygame wants it) and moves small values between the stages:
  detection runs on two threads (`greeter.live.detection`: dlib's detector lets go of
  Python's lock), embedding in a worker process (`greeter.live.identity`: dlib's ResNet holds
  the lock for a whole pass), the status file and door enrolment on threads of their own.
* **Two ways of running**. A live camera or a ``--realtime`` file never waits: each new frame
  is drawn at once, a frame due for detection is handed to a free detection thread (else the
  next one due is), and detections and votes are applied when they are ready. A file played
  as fast as possible is processed in order: frames wait for their detection, and a face's
  votes are applied at the frame it was found on, so a run on a file gives the same greetings
  on any machine (tests and benchmarks count on it).
* **Detection follows the people** (`greeter.live.scan`, `greeter.live.motion`): every 0.1 s
  of frame time (`greeter.live.throttle`) a cheap motion test on a small grey frame and the
  live tracks decide whether to scan nothing (a still, empty scene), regions around tracks and
  motion, or the whole frame. While a door enrolment collects frames, every scan is a full one: its
  "several faces" rule needs every face in view.
* **Embedding** happens for tracks that are new or not yet settled, at most
  `tracking.embeddings_per_second` per track; a settled face costs one embedding a second, the
  check that it is still the same person's (`greeter.live.tracking`).
* **The screen tells the truth about now** (`greeter.live.pictures`): a greeting stays while
  its person is in view and goes when they leave; "Welcome!" while a face is undecided. The
  host's idle screen is drawn before the models load.
* **Time** is the frame's time: video time for files, the monotonic clock for cameras.
* **Hot reload**: once a second the store (`greeter.live.gallery_reload`: a broken store means
  everybody is a stranger until it is fixed), the greetings file (`greeter.greetings.watch`)
  and the door's request folder (`greeter.live.door_desk`) are asked whether they changed. A
  shared store's changes come prepared by its follower (`greeter.live.shared_gallery`) and are
  taken at the loop's next turn, without waiting for the second.
* **Outputs** (events file, screenshots, voice, and the status file the console reads:
  `greeter.live.outputs`) may each fail alone; the status line counts their failures.
* **Enrol at the door** (`greeter.live.door_desk`): a request from the console makes the
  robot ask the guest to look at the camera and enrol the best frames of the next seconds.
* **Memory stays flat** over a day: the summary keeps counters and the newest greetings only,
  and nothing is kept per frame or per ended track.
* **Keys**: in a window Esc and q quit; fullscreen (the kiosk) ignores keys, so a stray key
  or a guest at the keyboard cannot end it (stop it with SIGTERM, e.g. ``systemctl stop``).
* **Privacy**: nothing about strangers is stored. A screenshot shows one greeting and
  pixelates the camera picture but the greeted person's face (`greeter.live.pictures`). A
  person erased from the store is erased from the events file and the screenshots too
  (`greeter.live.gallery_reload`).
"""

import collections
import json
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Deque, Dict, List, Optional, Tuple, Union

from greeter.greetings.render import first_name_of, language_of, message_for
from greeter.greetings.watch import GreetingsWatcher
from greeter.heap import keep_heap_small
from greeter.live.camera import Frame, LatestFrameReader, ReaderState, is_live, open_reader
from greeter.live.detection import Detected, DetectionStage
from greeter.live.door_desk import DoorDesk
from greeter.live.gallery_reload import GalleryReload
from greeter.live.identity import IdentityStage, Votes
from greeter.live.motion import MotionGate, small_grey
from greeter.live.outputs import (
    EventsFile,
    GreetingEvent,
    Output,
    Outputs,
    RobotCounters,
    Screenshots,
    StatusFile,
    Voice,
)
from greeter.live.pictures import ScreenPictures
from greeter.live.policy import GreetingDue, GreetingPolicy
from greeter.live.scan import FULL, Scan, plan_scan
from greeter.live.shared_gallery import SharedGallery
from greeter.live.status import Sample, loop_rates, status_path
from greeter.live.throttle import Throttle, open_memory_reader
from greeter.live.tracking import Tracker
from greeter.live.voice import Speaker
from greeter.people.door import DoorRules
from greeter.people.store import open_store
from greeter.recognition.faces import FaceEngine
from greeter.recognition.figures import FIGURES, tracking_for
from greeter.recognition.recogniser import Recogniser
from greeter.screen.display import Scene, Screen, Style
from greeter.settings import ServerAddress, Settings

log = logging.getLogger(__name__)

#: Frames read ahead of the one drawn when a file is played as fast as possible: enough for
#: both detection threads to have a frame when detection runs on every third frame.
FRAMES_AHEAD = 6
#: How long a live loop waits for a new frame before it redraws anyway (fading greetings,
#: the "camera lost" screen).
FRAME_WAIT_SECONDS = 0.05
RELOAD_EVERY_SECONDS = 1.0
#: How often an empty entrance is redrawn (its camera inset moves at 5 fps): a guest stepping
#: in is seen by the next detection (0.1 s) and from then every frame is drawn. Drawing 10 a
#: second cost 1.9 % of a core of the 9.6 % an empty entrance took with a 30 fps camera
#: (benchmarks/idle_camera.py).
RESTING_DRAW_SECONDS = 0.2
#: Greetings kept in the run's summary: the newest ones, so a day's run keeps its memory flat.
RECENT_GREETINGS = 100


@dataclass
class RunOptions:
    """How `greeter run` was asked to run (the command line's options)."""

    source: str = "0"
    realtime: bool = False
    window: Optional[Tuple[int, int]] = None
    headless: bool = False
    events_out: Optional[Path] = None
    screenshot_dir: Optional[Path] = None
    speak: bool = False
    #: The voice program (espeak-ng's options); tests give another.
    voice_command: str = "espeak-ng"
    status_every_seconds: float = 5.0
    #: Keep the number of every frame with a face in `RunSummary.face_frames`, and when each
    #: frame was drawn and each embedding ran (benchmarks measure recall and smoothness with
    #: them; a day's run would grow without bound).
    record_face_frames: bool = False
    #: How requests to enrol at the door are served.
    door: DoorRules = field(default_factory=DoorRules)


@dataclass
class RunSummary:
    """What a run did, for the caller and the benchmarks: counters, and the newest greetings
    and screenshots (bounded, so a day's run keeps its memory flat)."""

    #: Frames drawn.
    frames: int = 0
    #: Frames on which a face was found (by this frame's detection or, between detections, by
    #: the last one).
    frames_with_faces: int = 0
    #: Their numbers, only with `RunOptions.record_face_frames`.
    face_frames: Optional[List[int]] = None
    #: Scans run (full frames or regions), and how many of them scanned the whole frame.
    detections: int = 0
    full_scans: int = 0
    embeddings: int = 0
    #: With `RunOptions.record_face_frames`: `time.monotonic` of each frame drawn, and the
    #: (start, end) of each embedding job (taken when its frame was detected and when its
    #: votes were applied).
    drawn_at: Optional[List[float]] = None
    embedding_spans: Optional[List[Tuple[float, float]]] = None
    greeted: int = 0
    #: The newest `RECENT_GREETINGS` greetings, oldest first.
    greetings: Deque[GreetingEvent] = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_GREETINGS))
    screenshots_saved: int = 0
    #: The newest screenshots' paths, oldest first.
    screenshots: List[Path] = field(default_factory=list)
    #: Failures per output (events, screenshots, voice) that did not stop the run.
    output_failures: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Greeter:
    """The running robot: the stages wired together, and the two ways of running them. `run`
    returns when the source ends, on SIGTERM, or on Esc/q in a window."""

    def __init__(self, settings: Settings, options: RunOptions,
                 reader: Optional[LatestFrameReader] = None):
        """`reader` replaces the one `options.source` would open (tests feed their own)."""
        keep_heap_small()
        self.settings = settings
        self.options = options
        # the source and the screen
        self.reader = reader or open_reader(options.source, options.realtime, settings.camera)
        self._live = is_live(options.source)
        self.screen = Screen(
            Style(**settings.ui.model_dump(exclude={"idle_after_seconds"})),
            size=options.window, headless=options.headless)
        self.pictures = ScreenPictures(settings.ui, self.screen.size[0])
        self.greetings = GreetingsWatcher(settings.greetings, log)
        # the host's idle screen at once, while the store and the models load behind it
        # (seconds on the Nano: a black screen looked broken)
        self.screen.render(self.pictures.scene(
            self.greetings.current.screen, settings.greetings, 0.0, None, status="",
            camera_lost=False, idle=True))
        self.screen.handle_events()
        # who is known, and who is greeted when
        figures = FIGURES[settings.recognition.model]
        self.gallery: Union[GalleryReload, SharedGallery] = (
            SharedGallery(settings.store, settings.local_folder, FaceEngine(), settings.matching,
                          figures, robot_name=settings.robot_name,
                          greetings_path=settings.greetings)
            if isinstance(settings.store, ServerAddress)
            else GalleryReload(settings.store, FaceEngine(), settings.matching, figures))
        self.tracker = Tracker(tracking_for(settings.tracking, figures))
        self.policy = GreetingPolicy(settings.greeting_policy)
        self.throttle = Throttle(settings.throttle, open_memory_reader())
        self.door = DoorDesk(
            lambda: open_store(settings.store, settings.local_folder, create=True),
            settings.local_folder, options.door, settings.enrolment)
        # the stages off the drawing thread; a finished scan or job wakes the loop from its
        # wait for the next frame, rather than being noticed with the next frame (~16 ms
        # later on average, twice or more per greeting)
        self.detection = DetectionStage(settings.detection.frame_upsample,
                                        on_finished=self.reader.wake)
        self.identity = IdentityStage(on_finished=self.reader.wake,
                                      model=settings.recognition.model)
        self._motion = MotionGate()
        # what greetings leave behind
        self._screenshots = Screenshots(options.screenshot_dir, self.screen,
                                        self._draw_screenshot) if options.screenshot_dir else None
        self.outputs = Outputs(self._outputs(self._screenshots))
        self.gallery.forget_erased(self.outputs)
        recording = options.record_face_frames
        self.summary = RunSummary(face_frames=[] if recording else None,
                                  drawn_at=[] if recording else None,
                                  embedding_spans=[] if recording else None)
        self._stop = threading.Event()
        #: Frames read but not drawn yet, in order, when a file is played as fast as possible
        #: (each with whether a detection was submitted for it), and a frame read but waiting
        #: for a free detection thread.
        self._ahead: Deque[Tuple[Frame, bool]] = collections.deque()
        self._held: Optional[Frame] = None
        self._embedding_started = 0.0
        self._last_face_at = float("-inf")
        self._next_detection_at = float("-inf")
        #: The frame of the last detection applied: the tracks' boxes are where its faces were.
        self._detected: Optional[Frame] = None
        #: When the screen was last drawn (`time.monotonic`).
        self._rendered_at = float("-inf")
        self._last_full_scan_at = float("-inf")
        #: Whether the last motion check saw anything move.
        self._moving = True
        self._now = 0.0
        # The models load on the stages' threads at once; the robot is ready when they are,
        # so the first guest does not wait for them (~1 s here, several on the Nano).
        self.detection.wait_ready()
        self.identity.wait_ready()

    def _outputs(self, screenshots: Optional[Screenshots]) -> List[Output]:
        """The outputs `options` ask for, and the status file the console reads."""
        outputs: List[Output] = []
        if self.options.events_out:
            outputs.append(EventsFile(self.options.events_out))
        if screenshots:
            outputs.append(screenshots)
        if self.options.speak:
            outputs.append(Voice(Speaker(self.greetings.current.language,
                                         self.options.voice_command)))
        outputs.append(StatusFile(status_path(self.settings.local_folder), self._counters,
                                  enrolled=self.gallery.enrolled,
                                  publish=self.gallery.publish_status
                                  if isinstance(self.gallery, SharedGallery) else None))
        return outputs

    @property
    def recogniser(self) -> Recogniser:
        """The store's people now (`greeter.recognition.recogniser.Recogniser`)."""
        return self.gallery.recogniser

    # -- life cycle ---------------------------------------------------------------------

    def stop(self, *_signal_args) -> None:
        """Ask the loop to finish (SIGTERM handler, tests)."""
        self._stop.set()

    def run(self) -> RunSummary:
        started = time.monotonic()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
        next_reload = started
        next_status = started + self.options.status_every_seconds
        status_at = self._sample()
        try:
            with self.reader:
                while not self._stop.is_set():
                    if self.screen.handle_events():
                        break
                    wall = time.monotonic()
                    if wall >= next_reload:
                        self._reload()
                        next_reload = wall + RELOAD_EVERY_SECONDS
                    elif self.gallery.changes_waiting():  # a shared store's, ready: now
                        self._take_store_changes()
                    if wall >= next_status:
                        status_at = self._log_status(status_at)
                        next_status = wall + self.options.status_every_seconds
                    self.throttle.update()
                    self.outputs.poll()
                    self._thank(self.door.step())
                    if self.reader.state is ReaderState.STARTING:
                        # the way of running follows the source, which is not open yet
                        self.reader.wait_started(FRAME_WAIT_SECONDS)
                        self._show(None)
                    elif self.reader.every_frame:
                        if not self._step_in_order():
                            break
                    elif not self._step_live():
                        break
        finally:
            self.close()
        self.summary.seconds = time.monotonic() - started
        if self._screenshots:
            self.summary.screenshots_saved = self._screenshots.saved
            self.summary.screenshots = list(self._screenshots.recent)
        self.summary.output_failures = dict(self.outputs.failures)
        return self.summary

    def close(self) -> None:
        """Stop the stages, answer a door request being served, close the outputs, the store
        and the screen: what `run` does as it ends, for a robot made and never run too."""
        self.detection.close()
        self.identity.close()
        self._thank(self.door.close())
        self.outputs.close()
        self.gallery.close()
        self.screen.close()

    def _reload(self) -> None:
        """Once a second: the store, the greetings file and the door's requests."""
        self._take_store_changes()
        self.greetings.poll()
        self.door.take_request()

    def _take_store_changes(self) -> None:
        """The store's people as they are now, and the outputs' records of erased ones gone."""
        self.gallery.poll()
        self.gallery.forget_erased(self.outputs)

    # -- the two ways of running (see the module docstring) -----------------------------------

    def _step_in_order(self) -> bool:
        """A file played as fast as possible: read ahead, then draw the oldest frame once its
        detection (and the embedding it asked for) is done. False once the file is done."""
        finished = self._read_ahead()
        if not self._ahead:
            return not finished
        if not finished and len(self._ahead) < FRAMES_AHEAD and self._held is None:
            return True  # the reader is decoding the next frame: read it first
        frame, detected = self._ahead.popleft()
        if detected:
            self._apply_detection(self.detection.oldest(), wait_for_votes=True)
        self._draw(frame)
        return True

    def _read_ahead(self) -> bool:
        """Read frames and submit their scans until `FRAMES_AHEAD` are waiting or a frame due
        for detection finds both threads busy (it is held until one is free). True once the
        source is finished and every frame was read."""
        while len(self._ahead) < FRAMES_AHEAD:
            frame = self._held or self.reader.next_frame(timeout=FRAME_WAIT_SECONDS)
            if frame is None:
                return self.reader.state is ReaderState.FINISHED
            if self._due(frame) and self.detection.busy:
                self._held = frame
                return False
            self._held = None
            scan = self._plan(frame)
            if scan is not None and not scan.empty:
                self.detection.submit(frame, scan, self.throttle.plan.scale)
            self._ahead.append((frame, scan is not None and not scan.empty))
        return False

    def _step_live(self) -> bool:
        """A camera or a real-time file: apply what the workers finished, and draw each new
        frame at once. False once the source is finished."""
        for detected in self.detection.ready():
            self._apply_detection(detected, wait_for_votes=False)
        self._apply_votes(self.identity.ready())
        wake_at = self._wake_at()
        frame = self.reader.next_frame(timeout=FRAME_WAIT_SECONDS, not_before=wake_at)
        if frame is None:
            if self.reader.state is ReaderState.FINISHED:
                if not self.detection.pending:
                    return False
                self._apply_detection(self.detection.oldest(), wait_for_votes=False)
            elif ((wake_at is None or self.reader.state is not ReaderState.OK)  # not at rest
                  and time.monotonic() - self._rendered_at >= FRAME_WAIT_SECONDS):  # nor woken
                self._show(None)
            return True
        due = self._due(frame)
        if due and not self.detection.busy:
            scan = self._plan(frame)
            if scan is not None and not scan.empty:
                self.detection.submit(frame, scan, self.throttle.plan.scale)
        if not self._resting() or (due and frame.t - self._now >= RESTING_DRAW_SECONDS - 0.001):
            self._draw(frame)
        return True

    def _wake_at(self) -> Optional[float]:
        """At rest, the time of the next frame due for detection: the frames before it would
        be neither scanned nor drawn, so the loop sleeps through them and the reader never
        converts them (a third of an empty entrance's cost with a 30 fps camera)."""
        if self.throttle.plan.recognise and self._resting():
            return self._due_from
        return None

    def _resting(self) -> bool:
        """Nothing moves, nobody is in view and nothing is shown but the idle screen: then
        only every other frame due for detection is drawn (5 a second), since a redraw shows
        the same picture but for the camera's inset. Drawing 800x480 took 1.3 ms a frame on a
        quiet core here (4 % of a core at 30 fps), up to 5 ms on a busy one: the largest cost
        of an empty entrance after the periodic full scan."""
        return (not self._moving and not self.tracker.tracks
                and not self.pictures.showing(self._now) and not self.door.collecting)

    # -- detection ---------------------------------------------------------------------------

    @property
    def _due_from(self) -> float:
        """The frame time from which a frame is due for detection. The 1 ms slack absorbs
        timestamp rounding."""
        return self._next_detection_at - 0.001

    def _due(self, frame: Frame) -> bool:
        """Whether `frame` is due for detection. Due by the frame's time, not its number:
        cameras differ in frame rate, and a live or real-time source drops frames."""
        return self.throttle.plan.recognise and frame.t >= self._due_from

    def _plan(self, frame: Frame) -> Optional[Scan]:
        """The scan for `frame`, or None when it is not due for detection."""
        if not self._due(frame):
            return None
        self._next_detection_at = frame.t + self.throttle.plan.every_seconds
        height, width = frame.rgb.shape[:2]
        motion = self._motion.check(small_grey(self.pictures.inset(frame)), (width, height))
        self._moving = motion.moving
        if self.door.collecting:  # its "several faces" rule needs every face in view
            scan = FULL
        else:
            tracks = self.tracker.tracks
            scan = plan_scan(frame.t, (width, height), [t.box for t in tracks], motion,
                             self._last_full_scan_at, any(t.missed for t in tracks))
        if scan.full:
            self._last_full_scan_at = frame.t
        return scan

    def _apply_detection(self, detected: Detected, wait_for_votes: bool) -> None:
        frame = detected.frame
        self.summary.detections += 1
        self.summary.full_scans += detected.scan.full
        self._detected = frame
        self.door.offer(frame.rgb, detected.boxes)
        # A region scan misses the tracks outside its regions: only tracks born after it was
        # planned, which age by one detection and are looked for at the next one.
        self.tracker.update(detected.boxes, frame.t)
        if self.tracker.tracks:
            self._last_face_at = frame.t
        self._embed_waiting()
        if wait_for_votes:
            self._apply_votes(self.identity.ready(wait=True), frame)
        else:
            self._greet_decided(frame.t, self.reader.latest or frame)

    def _embed_waiting(self) -> None:
        """Hand the faces of the tracks waiting for a vote, as the last detection found them,
        to the identity stage if it is free."""
        if self.identity.working or self._detected is None:
            return
        waiting = [(t.id, t.box) for t in self.tracker.needing_embedding(self._detected.t)]
        if self.identity.submit(self.recogniser, self._detected, waiting):
            self._embedding_started = time.monotonic()

    def _apply_votes(self, votes: Optional[Votes], frame: Optional[Frame] = None) -> None:
        """Cast a finished embedding job's votes, then greet whoever is settled now; the
        greeting shows on `frame` (the newest frame when None)."""
        if votes is not None:
            if self.summary.embedding_spans is not None:
                self.summary.embedding_spans.append((self._embedding_started, time.monotonic()))
            self.summary.embeddings += len(votes.by_track)
            for track_id, vote in votes.by_track:
                self.tracker.vote(track_id, vote, votes.frame.t, self.recogniser.judge_track)
            self._greet_decided(votes.frame.t, frame or self.reader.latest or votes.frame)
            # The next vote starts now, on a detection that came while this job ran, rather
            # than with the next detection (up to 0.1 s later): a name needs two votes. (Played
            # in order, a job's votes come before the next detection: nothing waits here.)
            self._embed_waiting()

    def _greet_decided(self, now: float, shown_on: Frame) -> None:
        """Greet whoever the policy says is due at `now`; the greeting is shown (and its
        event and screenshot taken) on `shown_on`."""
        for greeting in self.policy.decide(self.tracker.tracks, now):
            self._greet(greeting, shown_on)

    # -- greeting ----------------------------------------------------------------------------

    def _greet(self, greeting: GreetingDue, frame: Frame) -> None:
        track = next(t for t in self.tracker.tracks if t.id == greeting.track_id)
        names = self.recogniser.names
        name = names.get(greeting.person) if greeting.person else None
        greetings = self.greetings.current
        message = message_for(greetings, greeting.person, datetime.now(),
                              visit=greeting.visit - 1, store_name=name)
        # on screen before the outputs: a screenshot draws the newest greeting
        self.pictures.show(message, first_name_of(greetings, greeting.person, name), frame.t,
                           track.id)
        if greeting.again:  # greeted within the cooldown: acknowledged on screen only
            return
        distance = float(track.identity.distance)
        event = GreetingEvent(
            t=frame.t, frame=frame.index, person=greeting.person, name=name, message=message,
            # nobody enrolled: no distance (JSON has no Infinity)
            distance=distance if math.isfinite(distance) else None,
            language=language_of(greetings, greeting.person))
        log.info("greeting %s", json.dumps(event.record(), ensure_ascii=False))
        self.summary.greeted += 1
        self.summary.greetings.append(event)
        self.outputs.greeted(event, frame)

    # -- screen ------------------------------------------------------------------------------

    def _scene(self, frame: Optional[Frame]) -> Scene:
        """What the screen shows on `frame` now."""
        self.pictures.follow([(t.id, t.identity is not None, t.first_seen,
                               t.odd_vote is not None) for t in self.tracker.tracks], self._now)
        content = self.greetings.current.screen
        return self.pictures.scene(content, self.settings.greetings, self._now, frame,
                                   self.door.prompt(self._now), **self._screen_state())

    def _screen_state(self) -> Dict[str, object]:
        """The parts of a scene that are the robot's state: memory, camera, idle."""
        level = self.throttle.level.name.lower()
        return dict(status="" if level == "normal" else f"memory {level}",
                    camera_lost=self.reader.state is ReaderState.LOST,
                    idle=self._now - self._last_face_at > self.settings.ui.idle_after_seconds)

    def _thank(self, name: Optional[str]) -> None:
        """Thank a guest enrolled at the door."""
        if name:
            self.pictures.show(f"Thank you, {name}!", name, self._now)

    def _draw(self, frame: Frame) -> None:
        """Draw a new frame: the frames drawn are the run's frames."""
        self._now = frame.t
        self.door.frame_drawn(frame.t)
        self.summary.frames += 1
        if self._detected is not None and any(
                t.last_seen == self._detected.t for t in self.tracker.tracks):
            self.summary.frames_with_faces += 1
            if self.summary.face_frames is not None:
                self.summary.face_frames.append(frame.index)
        self.screen.render(self._scene(frame))
        self._rendered_at = time.monotonic()
        if self.summary.drawn_at is not None:
            self.summary.drawn_at.append(self._rendered_at)

    def _show(self, frame: Optional[Frame]) -> None:
        """Draw the screen; without a new frame (camera lost or slow) live time still runs, so
        greetings fade and the idle screen comes."""
        if frame is None:
            if self._live:
                self._now = time.monotonic()
            frame = self.reader.latest
        self.screen.render(self._scene(frame))
        self._rendered_at = time.monotonic()

    def _draw_screenshot(self, event: GreetingEvent, frame: Frame) -> None:
        """The screen as it looks once the new greeting has faded in, only its person's face
        unpixelated (`greeter.live.outputs.Screenshots` saves it)."""
        person = event.person
        keep = [t.box for t in self.tracker.tracks
                if person and t.identity and t.identity.person == person]
        content = self.greetings.current.screen
        self.screen.render(self.pictures.screenshot(content, self.settings.greetings, self._now,
                                                    frame, keep, **self._screen_state()))

    # -- status ------------------------------------------------------------------------------

    def _counters(self) -> RobotCounters:
        state = self.reader.state
        camera = {ReaderState.LOST: "lost", ReaderState.STARTING: "reopening"}.get(state, "ok")
        return RobotCounters(self.summary.frames, self.summary.detections,
                             self.throttle.level.name.lower(), camera, time.process_time(),
                             self.gallery.store_problem)

    def _sample(self) -> Sample:
        return Sample(time.monotonic(), time.process_time(), self.summary.frames,
                      self.summary.detections)

    def _log_status(self, before: Sample) -> Sample:
        """Log the status line for the time since `before`; returns the sample taken now."""
        now = self._sample()
        if now.wall <= before.wall:
            return now
        measured = loop_rates(before, now)
        problems = []
        if self.gallery.problem:
            problems.append("store unreadable")
        elif self.gallery.store_problem:
            problems.append("store's server unreachable, greeting from the snapshot")
        if self.outputs.failing():
            problems.append(f"outputs failing: {self.outputs.failing()}")
        log.info("status: %.1f fps drawn, %.1f detections/s, CPU %.0f %%, %d faces, memory %s, "
                 "camera %s%s", measured.fps, measured.detection_rate, measured.cpu_percent,
                 len(self.tracker.tracks), self.throttle.level.name.lower(),
                 self.reader.state.value, "".join(f", {problem}" for problem in problems))
        return now
