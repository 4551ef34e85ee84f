"""The robot: frames in, greetings on screen. Wires the pipeline's stages together.

::

    reader ──frames──▶ motion gate ─▶ scan plan ─▶ detection (2 threads; `greeter.live.detection`)
       │                                                │ boxes
       │                                                ▼
       │                     identity (1 process) ◀── tracker ──▶ policy ─▶ greeting ─▶ outputs
       │                     embed ─▶ match ──votes──▶ (settled)             screen, events,
       └──newest frame──▶ screen (the main thread only draws)                screenshots, voice

* **The main thread draws** (pygame wants it) and moves small values between the stages:
  detection runs on two threads (`greeter.live.detection`: dlib's detector lets go of Python's
  lock), embedding in a worker process (`greeter.live.identity`: dlib's ResNet holds the lock for
  a whole pass), the status file and door enrolment on threads of their own.
* **Two ways of running**. A live camera or a ``--realtime`` file never waits: each new frame
  is drawn at once, a frame due for detection is handed to a free detection thread (else the
  next one due is), and detections and votes are applied when they are ready. A file played
  as fast as possible is processed in order: frames wait for their detection, and a face's
  votes are applied at the frame it was found on, so a run on a file gives the same greetings
  on any machine (tests and benchmarks count on it).
* **Detection follows the people** (`greeter.live.scan`, `greeter.live.motion`): every 0.1 s of
  frame
  time (`greeter.live.throttle`) a cheap motion test on a small grey frame and the live tracks
  decide whether to scan nothing (a still, empty scene), regions around tracks and motion,
  or the whole frame. While a door enrolment collects frames, every scan is a full one: its
  "several faces" rule needs every face in view.
* **Embedding** happens only for tracks that are new or not yet settled, at most
  `tracking.embeddings_per_second` per track; settled faces cost nothing but detection.
* **Time** is the frame's time: video time for files, the monotonic clock for cameras.
* **Hot reload**: once a second the store is asked whether it changed (one PRAGMA) and the
  greetings file whether it was edited (one stat).
* **A broken store** (damaged, not a store, another model's) does not stop the robot: it
  greets everybody as a stranger, logs the problem once (again only if the problem changes),
  and opens the store again when its file changes (fixed, replaced, re-enrolled). Strangers
  rather than the last good gallery: the damage may hide a removal, and a removed person must
  not be greeted by name.
* **Outputs** (events file, screenshots, voice, and the status file the console reads:
  `greeter.live.outputs`) may each fail alone; the status line counts their failures.
* **Enrol at the door** (`greeter.people.door`): once a second the request folder beside the store
  is
  looked at (one stat); a request makes the robot show "Look at the camera, NAME" and hand the
  largest face of each frame it detects in the next few seconds to a worker thread of its own
  (with a face engine of its own, loaded on the first request: ~45 MB), which enrols the best
  frames into the store; the hot reload then picks them up like any other enrolment.
* **Memory stays flat** over a day: the summary keeps counters and the newest greetings only,
  and nothing is kept per frame or per ended track.
* **Keys**: in a window Esc and q quit; fullscreen (the kiosk) ignores keys, so a stray key
  or a guest at the keyboard cannot end it (stop it with SIGTERM, e.g. ``systemctl stop``).
* **Privacy**: nothing about strangers is stored. A screenshot (``--screenshot-dir``) shows
  one greeting and pixelates the whole camera inset but the greeted person's face
  (`pixelate`). A person erased from the store is erased from the events file and the
  screenshots too, at the next reload, or at the start when the robot was off
  (`greeter.live.outputs.Output.forget`).
"""

import collections
import contextlib
import json
import logging
import math
import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Deque, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from greeter.errors import StoreError
from greeter.greetings.schema import GreetingsWatcher, first_name_of, message_for
from greeter.heap import keep_heap_small
from greeter.live.camera import Frame, LatestFrameReader, ReaderState, is_live, open_reader
from greeter.live.detection import Detected, DetectionStage
from greeter.live.identity import IdentityStage, Votes
from greeter.live.motion import MotionGate, small_grey
from greeter.live.outputs import (
    EventsFile,
    Greeted,
    Output,
    Outputs,
    RobotCounters,
    Screenshots,
    StatusFile,
    Voice,
)
from greeter.live.policy import Greeting, GreetingPolicy
from greeter.live.scan import FULL, Scan, plan_scan
from greeter.live.status import Sample, rates, status_path
from greeter.live.throttle import Throttle, open_memory_reader
from greeter.live.tracking import Tracker
from greeter.live.voice import Speaker
from greeter.people.door import DoorCollection, DoorInbox, DoorResult, DoorRules
from greeter.people.store import Store
from greeter.recognition.faces import Box, FaceEngine
from greeter.recognition.recogniser import Recogniser
from greeter.screen.display import Scene, Screen, ShownGreeting, Style
from greeter.settings import Settings

log = logging.getLogger(__name__)

#: Frames read ahead of the one drawn when a file is played as fast as possible: enough for
#: both detection threads to have a frame when detection runs on every third frame.
FRAMES_AHEAD = 6
#: How long a live loop waits for a new frame before it redraws anyway (fading greetings,
#: the "camera lost" screen).
FRAME_WAIT_SECONDS = 0.05
RELOAD_EVERY_SECONDS = 1.0
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
    #: The newest `RECENT_GREETINGS` greetings (the events file's lines), oldest first.
    greetings: Deque[dict] = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_GREETINGS))
    screenshots_saved: int = 0
    #: The newest screenshots' paths, oldest first.
    screenshots: List[Path] = field(default_factory=list)
    #: Failures per output (events, screenshots, voice) that did not stop the run.
    output_failures: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def hex_to_rgb(colour: str) -> Tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def pixelate(rgb: np.ndarray, keep: Sequence[Box], blocks_across: int = 16) -> np.ndarray:
    """A copy of `rgb` reduced to coarse blocks (`blocks_across` over its width: a face of
    300 px in a 640 px frame keeps about 7 blocks across, unrecognisable) except the faces in
    `keep`, widened to take in hair, ears and chin.

    Everything is hidden but what is kept, rather than the strangers' faces only: a face the
    detector missed in that frame (turned aside, small, behind somebody) is hidden too.
    """
    height, width = rgb.shape[:2]
    block = max(2, -(-width // blocks_across))
    small = cv2.resize(rgb, (max(1, width // block), max(1, height // block)),
                       interpolation=cv2.INTER_AREA)
    hidden = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    for top, right, bottom, left in keep:
        # HOG boxes hug the eyes and mouth
        margin_y, margin_x = (bottom - top) // 3, (right - left) // 5
        top, left = max(0, top - margin_y), max(0, left - margin_x)
        bottom, right = min(height, bottom + margin_y // 2), min(width, right + margin_x)
        hidden[top:bottom, left:right] = rgb[top:bottom, left:right]
    return hidden


class Greeter:
    """The running robot. `run` returns when the source ends, on SIGTERM, or on Esc/q in a
    window."""

    def __init__(self, settings: Settings, options: RunOptions,
                 reader: Optional[LatestFrameReader] = None):
        """`reader` replaces the one `options.source` would open (tests feed their own)."""
        keep_heap_small()
        self.settings = settings
        self.options = options
        self.reader = reader or open_reader(options.source, options.realtime, settings.camera)
        self._live = is_live(options.source)
        self.screen = Screen(
            Style(**settings.ui.model_dump(exclude={"idle_after_seconds"})),
            size=options.window, headless=options.headless)
        self.tracker = Tracker(settings.tracking)
        self.policy = GreetingPolicy(settings.greeting_policy)
        self.throttle = Throttle(settings.throttle, open_memory_reader())
        self.greetings = GreetingsWatcher(settings.greetings, log)
        self.engine = FaceEngine()
        self.store: Optional[Store] = None
        #: (device, inode) of the open store's file: a file replaced under it is reopened.
        self._store_identity: Optional[Tuple[int, int]] = None
        #: What was wrong with the store (logged once), and its files' state then: it is
        #: opened again only once they change.
        self._store_problem: Optional[str] = None
        self._broken_store_files: Optional[Tuple] = None
        self.recogniser = self._load_recogniser()
        recording = options.record_face_frames
        self.summary = RunSummary(face_frames=[] if recording else None,
                                  drawn_at=[] if recording else None,
                                  embedding_spans=[] if recording else None)
        self._stop = threading.Event()
        # A finished scan or job wakes the loop from its wait for the next frame, rather than
        # being noticed with the next frame (~16 ms later on average, twice or more per
        # greeting).
        self.detection = DetectionStage(settings.detection.frame_upsample,
                                        on_finished=self.reader.wake)
        self.identity = IdentityStage(on_finished=self.reader.wake)
        self._motion = MotionGate()
        #: Frames read but not drawn yet, in order, when a file is played as fast as possible
        #: (each with whether a detection was submitted for it), and a frame read but waiting
        #: for a free detection thread.
        self._ahead: Deque[Tuple[Frame, bool]] = collections.deque()
        self._held: Optional[Frame] = None
        self._embedding_started = 0.0
        #: The frame last shrunk for the screen, and its picture (`_picture`).
        self._picture_of: Optional[Frame] = None
        self._picture_rgb: Optional[np.ndarray] = None
        #: (text, first name to emphasise, time) of the greetings on screen.
        self._shown: List[Tuple[str, str, float]] = []
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
        self._screenshots = Screenshots(options.screenshot_dir, self.screen,
                                        self._draw_screenshot) if options.screenshot_dir else None
        outputs: List[Output] = []
        if options.events_out:
            outputs.append(EventsFile(options.events_out))
        if self._screenshots:
            outputs.append(self._screenshots)
        if options.speak:
            outputs.append(Voice(Speaker(self.greetings.current.language, options.voice_command)))
        outputs.append(StatusFile(status_path(settings.store), self._counters,
                                  enrolled=lambda person: person in self.recogniser.names))
        self.outputs = Outputs(outputs)
        #: Whether the outputs may hold records of people erased from the store: at the start
        #: (erased while the robot was off), after a reload that lost somebody, and once a
        #: store that could not be read (missing, damaged) can be again.
        self._forget_due = self._store_read
        self._forget_erased()
        self._door_inbox = DoorInbox(settings.store, options.door)
        #: The request being served, and the worker that measures, embeds and stores its faces.
        self.door: Optional[DoorCollection] = None
        self._door_worker = ThreadPoolExecutor(1, thread_name_prefix="door")
        self._door_engine: Optional[FaceEngine] = None
        self._door_finishing: Optional[Future] = None
        self._door_problem: Optional[str] = None
        # The models load on the stages' threads at once; the robot is ready when they are,
        # so the first guest does not wait for them (~1 s here, several on the Nano).
        self.detection.wait_ready()
        self.identity.wait_ready()

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
                    if wall >= next_status:
                        status_at = self._log_status(status_at)
                        next_status = wall + self.options.status_every_seconds
                    self.throttle.update()
                    self.outputs.poll()
                    self._door_step()
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
            self.detection.close()
            self.identity.close()
            if self.door is not None:  # the source ended mid-collection: answer with what came
                self._finish_door()
            self._door_worker.shutdown(wait=True)
            self._door_step()
            self._close()
        self.summary.seconds = time.monotonic() - started
        if self._screenshots:
            self.summary.screenshots_saved = self._screenshots.saved
            self.summary.screenshots = list(self._screenshots.recent)
        self.summary.output_failures = dict(self.outputs.failures)
        return self.summary

    def _close(self) -> None:
        self.outputs.close()
        if self.store:
            self.store.close()
        self.screen.close()

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
        frame = self.reader.next_frame(timeout=FRAME_WAIT_SECONDS)
        if frame is None:
            if self.reader.state is ReaderState.FINISHED:
                if not self.detection.pending:
                    return False
                self._apply_detection(self.detection.oldest(), wait_for_votes=False)
            elif time.monotonic() - self._rendered_at >= FRAME_WAIT_SECONDS:  # not just woken
                self._show(None)
            return True
        due = self._due(frame)
        if due and not self.detection.busy:
            scan = self._plan(frame)
            if scan is not None and not scan.empty:
                self.detection.submit(frame, scan, self.throttle.plan.scale)
        if due or not self._resting():
            self._draw(frame)
        return True

    def _resting(self) -> bool:
        """Nothing moves, nobody is in view and nothing is shown but the idle screen: then
        only the frames due for detection are drawn (10 a second), since a redraw shows the
        same picture. Drawing 800x480 took 1.3 ms a frame on a quiet core here (4 % of a core at
        30 fps), up to 5 ms on a busy one: the largest cost of an empty entrance after the
        periodic full scan."""
        return (not self._moving and not self.tracker.tracks and not self._shown
                and self.door is None)

    # -- detection ---------------------------------------------------------------------------

    def _due(self, frame: Frame) -> bool:
        """Whether `frame` is due for detection. Due by the frame's time, not its number:
        cameras differ in frame rate, and a live or real-time source drops frames. The 1 ms
        slack absorbs timestamp rounding."""
        return self.throttle.plan.recognise and frame.t >= self._next_detection_at - 0.001

    def _plan(self, frame: Frame) -> Optional[Scan]:
        """The scan for `frame`, or None when it is not due for detection."""
        if not self._due(frame):
            return None
        self._next_detection_at = frame.t + self.throttle.plan.every_seconds
        height, width = frame.rgb.shape[:2]
        motion = self._motion.check(small_grey(self._picture(frame)), (width, height))
        self._moving = motion.moving
        if self.door is not None:
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
        if self.door is not None:
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

    def _greet(self, greeting: Greeting, frame: Frame) -> None:
        track = next(t for t in self.tracker.tracks if t.id == greeting.track_id)
        name = self.recogniser.names.get(greeting.person) if greeting.person else None
        message = message_for(self.greetings.current, greeting.person, datetime.now(),
                              visit=greeting.visit - 1, store_name=name)
        distance = float(track.identity.distance)
        event = {"t": round(frame.t, 3), "frame": frame.index, "person": greeting.person,
                 "name": name, "message": message,
                 # nobody enrolled: no distance (JSON has no Infinity)
                 "distance": round(distance, 4) if math.isfinite(distance) else None}
        log.info("greeting %s", json.dumps(event, ensure_ascii=False))
        self.summary.greeted += 1
        self.summary.greetings.append(event)
        first_name = first_name_of(self.greetings.current, greeting.person, name)
        self._shown.append((message, first_name, frame.t))
        self.outputs.greeted(Greeted(event, self._language_of(greeting.person), frame))

    def _language_of(self, person: Optional[str]) -> str:
        """The language of the person's greetings entry, else the greetings file's."""
        greetings = self.greetings.current
        entry = greetings.people.get(person) if person else None
        return (entry.language if entry else None) or greetings.language

    # -- screen ------------------------------------------------------------------------------

    def _scene(self, frame: Optional[Frame], screenshot_of: Optional[Greeted] = None) -> Scene:
        """What the screen shows on `frame`; with `screenshot_of`, that greeting's private
        screenshot instead (`greeter.live.outputs.Screenshots`): only its own text, faded in, and
        the camera pixelated except the greeted person's face."""
        content = self.greetings.current.screen
        lifetime = self.settings.ui.greeting_seconds
        self._shown = [(text, first, at) for text, first, at in self._shown
                       if self._now - at < lifetime]
        camera = None
        if frame is not None and screenshot_of is None:
            camera = self._picture(frame)
        elif frame is not None:
            person = screenshot_of.event["person"]
            camera = pixelate(frame.rgb, [t.box for t in self.tracker.tracks if person
                                          and t.identity and t.identity.person == person])
        level = self.throttle.level.name.lower()
        if screenshot_of is None:
            shown = [ShownGreeting(text, self._now - at, first) for text, first, at in self._shown]
        else:  # `_greet` shows the greeting, then hands it to the outputs: it is the newest
            text, first, _ = self._shown[-1]
            shown = [ShownGreeting(text, self.settings.ui.fade_in_seconds, first)]
        if self.door is not None and screenshot_of is None:
            started = self._now if self.door.started is None else self.door.started
            shown.append(ShownGreeting(f"Look at the camera, {self.door.request.name}",
                                       self._now - started,
                                       self.door.request.name))
        return Scene(
            title=content.title,
            background=hex_to_rgb(content.background_color),
            text_colour=hex_to_rgb(content.text_color),
            accent=hex_to_rgb(content.accent_color),
            lines=tuple(content.values),
            background_image=content.background_image_path(self.settings.greetings),
            logo=content.logo_path(self.settings.greetings),
            idle_message=content.idle_message,
            font_scale=content.font_scale,
            orientation=content.orientation,
            t=self._now,
            greetings=shown,
            camera=camera,
            status="" if level == "normal" else f"memory {level}",
            camera_lost=self.reader.state is ReaderState.LOST,
            idle=self._now - self._last_face_at > self.settings.ui.idle_after_seconds,
        )

    def _picture(self, frame: Frame) -> np.ndarray:
        """`frame` shrunk to the camera inset's width, once per frame; the motion gate starts
        from it too. The screen's smoothscale took ~2.7 ms for 640x480 to 200x150, the
        largest cost of drawing a frame; halving with area averaging (0.2 ms) and a linear
        resize for the rest (0.05 ms) give the same picture. Area averaging straight to
        200x150 took 4 ms: OpenCV's fast path is for whole factors."""
        if self._picture_of is not frame:
            self._picture_of = frame
            picture = frame.rgb
            inset = round(self.screen.size[0] * self.settings.ui.camera_inset_width)
            while 0 < inset <= picture.shape[1] // 2:
                picture = cv2.resize(picture, (picture.shape[1] // 2, picture.shape[0] // 2),
                                     interpolation=cv2.INTER_AREA)
            height, width = picture.shape[:2]
            if 0 < inset < width:
                picture = cv2.resize(picture, (inset, max(1, round(height * inset / width))),
                                     interpolation=cv2.INTER_LINEAR)
            self._picture_rgb = picture
        return self._picture_rgb

    def _draw(self, frame: Frame) -> None:
        """Draw a new frame: the frames drawn are the run's frames."""
        self._now = frame.t
        if self.door is not None and self.door.due(frame.t):
            self._finish_door()
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

    def _draw_screenshot(self, greeted: Greeted) -> None:
        """The screen as it looks once the new greeting has faded in, only its person's face
        unpixelated."""
        self.screen.render(self._scene(greeted.frame, screenshot_of=greeted))

    # -- reloading and status -----------------------------------------------------------------

    def _load_recogniser(self) -> Recogniser:
        """The store's people now; everybody a stranger when there is no store or it cannot
        be read (see the module docstring)."""
        path = self.settings.store
        try:
            if self.store is None and path.exists():
                self.store = Store(path, create=False)
                self._store_identity = _file_identity(path)
            if self.store is not None:
                self.store.check_integrity()
            recogniser = Recogniser.from_store(self.engine, self.store, self.settings.matching)
        except (StoreError, sqlite3.DatabaseError) as error:
            self._store_broken(error)
            return Recogniser.from_store(self.engine, None, self.settings.matching)
        if self._store_problem:
            if self.store is None:
                log.warning("%s: gone; everybody is a stranger until somebody is enrolled", path)
            else:
                log.warning("%s: readable again, %d people enrolled", path, len(recogniser.names))
            self._store_problem = None
        return recogniser

    def _store_broken(self, error: Exception) -> None:
        """Close the store, log what is wrong (once per problem), and remember the files'
        state so the store is opened again only once they change."""
        if self.store is not None:
            with contextlib.suppress(sqlite3.Error):  # a damaged store may fail to close too
                self.store.close()
            self.store = None
        self._broken_store_files = _files_state(self.settings.store)
        problem = str(error) if isinstance(error, StoreError) else \
            f"{self.settings.store}: cannot be read ({error})"
        if problem != self._store_problem:
            log.error("%s; everybody is greeted as a stranger until it is fixed", problem)
            self._store_problem = problem

    def _store_due(self) -> bool:
        """True when the store should be (re)loaded: it changed, its file was replaced, it
        appeared, or it was broken and its files changed since."""
        path = self.settings.store
        if self.store is None:
            if self._store_problem is not None:
                return _files_state(path) != self._broken_store_files
            return path.exists()
        if _file_identity(path) != self._store_identity:
            self.store.close()
            self.store = None
            return True
        try:
            return self.store.changed()
        except (StoreError, sqlite3.DatabaseError):
            return True  # reloading finds out what is wrong and logs it

    @property
    def _store_read(self) -> bool:
        """Whether the people enrolled now are the store's (it is open and was read)."""
        return self.store is not None and self._store_problem is None

    def _reload(self) -> None:
        read_before = self._store_read
        if self._store_due():
            before = self.recogniser.names
            self.recogniser = self._load_recogniser()
            if self._store_problem is None:
                log.info("store reloaded: %d people enrolled", len(self.recogniser.names))
                # somebody left, or a store that could not be read says who is enrolled again
                self._forget_due |= (not read_before
                                     or not before.keys() <= self.recogniser.names.keys())
        self._forget_erased()
        self.greetings.poll()
        if self.door is None and self._door_finishing is None:
            self._take_door_request()

    def _forget_erased(self) -> None:
        """Erase the events and screenshots of people no longer enrolled (`Output.forget`),
        when due and the store was read (a store that cannot be read says nothing about who
        was erased)."""
        if not self._forget_due or self._store_problem is not None:
            return
        names = self.recogniser.names
        erased = self.outputs.forget(lambda person: person in names)
        if erased is None:
            return  # an output failed (logged): asked again at the next reload
        self._forget_due = False
        for description, count in erased.items():
            log.info("%s: erased %d greeting%s of people no longer enrolled", description,
                     count, "s" if count != 1 else "")

    def _counters(self) -> RobotCounters:
        state = self.reader.state
        camera = {ReaderState.LOST: "lost", ReaderState.STARTING: "reopening"}.get(state, "ok")
        return RobotCounters(self.summary.frames, self.summary.detections,
                             self.throttle.level.name.lower(), camera, time.process_time())

    # -- enrolling at the door ---------------------------------------------------------------

    def _take_door_request(self) -> None:
        try:
            request = self._door_inbox.take()
        except OSError as error:  # tried again in a second; logged once
            problem = f"{self._door_inbox.folder}: {error.strerror or error}"
            if problem != self._door_problem:
                log.error("%s; enrolling at the door waits until it is fixed", problem)
                self._door_problem = problem
            return
        self._door_problem = None
        if request is None:
            return
        log.info("door enrolment of %s: look at the camera", request.person)
        if self._door_engine is None:
            self._door_engine = FaceEngine()
        self.door = DoorCollection(request, self.options.door, self.settings.enrolment,
                                   self.settings.store, self._door_worker, self._door_engine)

    def _finish_door(self) -> None:
        """Stop collecting: the worker enrols the best frames and answers the console."""
        self._door_finishing = self.door.finish()
        self.door = None

    def _door_step(self) -> None:
        """End a collection whose frames stopped coming; show the outcome of one that ended."""
        if self.door is not None and self.door.timed_out():
            self._finish_door()
        finishing = self._door_finishing
        if finishing is None or not finishing.done():
            return
        self._door_finishing = None
        if finishing.exception() is not None:
            log.error("enrolling at the door failed: %s; ask again", finishing.exception())
            return
        result: DoorResult = finishing.result()
        if result.enrolled:
            self._shown.append((f"Thank you, {result.name}!", result.name, self._now))


    def _sample(self) -> Sample:
        return Sample(time.monotonic(), time.process_time(), self.summary.frames,
                      self.summary.detections)

    def _log_status(self, before: Sample) -> Sample:
        """Log the status line for the time since `before`; returns the sample taken now."""
        now = self._sample()
        if now.wall <= before.wall:
            return now
        measured = rates(before, now)
        problems = []
        if self._store_problem:
            problems.append("store unreadable")
        if self.outputs.failing():
            problems.append(f"outputs failing: {self.outputs.failing()}")
        log.info("status: %.1f fps drawn, %.1f detections/s, CPU %.0f %%, %d faces, memory %s, "
                 "camera %s%s", measured.fps, measured.detection_rate, measured.cpu_percent,
                 len(self.tracker.tracks), self.throttle.level.name.lower(),
                 self.reader.state.value, "".join(f", {problem}" for problem in problems))
        return now


def _file_identity(path: Path) -> Optional[Tuple[int, int]]:
    """(device, inode) of the file at `path`, None when there is none."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _files_state(store: Path) -> Tuple:
    """What changes when anybody writes the store: its file's and its journal's identity,
    size and modification time."""
    state = []
    for path in (store, store.with_name(store.name + "-wal")):
        try:
            status = os.stat(path)
        except OSError:
            state.append(None)
        else:
            state.append((status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns))
    return tuple(state)
