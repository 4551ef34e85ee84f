"""The robot: frames in, greetings on screen. Wires the pieces built elsewhere together.

One loop on the main thread (pygame wants the main thread)::

    reader ──frames──▶ detection (2 threads) ──boxes──▶ tracker ──unsettled tracks──▶ embed
       │                                                  │           match, vote ◀──┘
       │                                     settled ─▶ policy ─▶ greeting ─▶ screen, events,
       └──newest frame──▶ camera inset                                       screenshot, voice

* **Detection** runs on two worker threads, each with its own dlib detector, up to two frames
  ahead of the loop. Threads, not processes: dlib releases the GIL for most of the HOG scan
  (two threads measured 1.4x one here), and a second process would load dlib and the models
  again (~100 MB) on a 4 GB Nano whose memory is the scarce resource.
* **Embedding** happens only for tracks that are new or not yet settled, at most
  `tracking.embeddings_per_second` per track; settled faces cost nothing but detection.
* **Time** is the frame's time: video time for files (so a run on a file gives the same
  greetings on any machine), the monotonic clock for cameras.
* **Hot reload**: once a second the store is asked whether it changed (one PRAGMA) and the
  greetings file whether it was edited (one stat).
* **Privacy**: nothing about strangers is stored. Screenshots (``--screenshot-dir``) pixelate
  every face in the camera inset that is not an enrolled person's.
"""

import collections
import json
import logging
import math
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Deque, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from greeter.camera import Frame, LatestFrameReader, ReaderState, is_live, open_reader
from greeter.errors import StoreError
from greeter.faces import Box, FaceEngine, scale_boxes
from greeter.greetings import GreetingsWatcher, message_for
from greeter.policy import Greeting, GreetingPolicy
from greeter.recognition import Recogniser
from greeter.settings import Settings
from greeter.store import Store
from greeter.throttle import Throttle, open_memory_reader
from greeter.tracking import Tracker
from greeter.ui import Scene, Screen, ShownGreeting, Style
from greeter.voice import Speaker

log = logging.getLogger(__name__)

#: Frames detected ahead of the one being recognised: one per detection thread.
DETECTION_THREADS = 2
RELOAD_EVERY_SECONDS = 1.0


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
    status_every_seconds: float = 5.0


@dataclass
class RunSummary:
    """What a run did, for the caller and the benchmarks."""

    frames: int = 0
    #: Numbers of the frames on which a face was found (by this frame's detection or, between
    #: detections, by the last one).
    face_frames: List[int] = field(default_factory=list)
    detections: int = 0
    embeddings: int = 0
    greetings: List[dict] = field(default_factory=list)
    screenshots: List[Path] = field(default_factory=list)
    seconds: float = 0.0


def hex_to_rgb(colour: str) -> Tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def pixelate(rgb: np.ndarray, boxes: Sequence[Box], blocks: int = 6) -> np.ndarray:
    """A copy of `rgb` with each box reduced to a few coarse blocks: unrecognisable."""
    hidden = rgb.copy()
    height, width = rgb.shape[:2]
    for top, right, bottom, left in boxes:
        # HOG boxes hug the eyes and mouth; widen them to cover hair, ears and chin too
        margin_y, margin_x = (bottom - top) // 3, (right - left) // 5
        top, left = max(0, top - margin_y), max(0, left - margin_x)
        bottom, right = min(height, bottom + margin_y // 2), min(width, right + margin_x)
        if bottom - top < 2 or right - left < 2:
            continue
        region = hidden[top:bottom, left:right]
        small = cv2.resize(region, (blocks, blocks), interpolation=cv2.INTER_AREA)
        hidden[top:bottom, left:right] = cv2.resize(
            small, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST)
    return hidden


class Greeter:
    """The running robot. `run` returns when the source ends, on Esc/q, or on SIGTERM."""

    def __init__(self, settings: Settings, options: RunOptions,
                 reader: Optional[LatestFrameReader] = None):
        """`reader` replaces the one `options.source` would open (tests feed their own)."""
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
        self.speaker = Speaker(self.greetings.current.language) if options.speak else None
        self.engine = FaceEngine()
        self.store: Optional[Store] = None
        self._store_problem = ""
        self.recogniser = self._load_recogniser()
        self.summary = RunSummary()
        self._stop = threading.Event()
        self._engines = threading.local()
        self._pool = ThreadPoolExecutor(DETECTION_THREADS, thread_name_prefix="detect")
        self._in_flight: Deque[Tuple[Frame, Optional[Future]]] = collections.deque()
        self._shown: List[Tuple[str, float]] = []
        self._last_face_at = float("-inf")
        self._next_detection_at = float("-inf")
        self._last_detection_at = float("-inf")
        self._now = 0.0
        # Held open for the whole run (closed in `_close`), line-buffered so every greeting
        # is on disk at once.
        self._events = open(  # noqa: SIM115
            options.events_out, "a", encoding="utf-8", buffering=1) if options.events_out else None
        if options.screenshot_dir:
            options.screenshot_dir.mkdir(parents=True, exist_ok=True)

    # -- life cycle ---------------------------------------------------------------------

    def stop(self, *_signal_args) -> None:
        """Ask the loop to finish (SIGTERM handler, tests)."""
        self._stop.set()

    def run(self) -> RunSummary:
        started = time.monotonic()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
        next_reload = next_status = started
        status_frames, status_detections = 0, 0
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
                        self._log_status(wall - started, status_frames, status_detections)
                        status_frames = self.summary.frames
                        status_detections = self.summary.detections
                        next_status = wall + self.options.status_every_seconds
                    self.throttle.update()
                    self._fill_pipeline()
                    if self._in_flight:
                        frame, detection = self._in_flight.popleft()
                        self._recognise(frame, detection.result() if detection else None)
                        if any(t.last_seen == self._last_detection_at
                               for t in self.tracker.tracks):
                            self.summary.face_frames.append(frame.index)
                        self._show(frame)
                    elif self.reader.state is ReaderState.FINISHED:
                        break
                    else:
                        self._show(None)
        finally:
            self._pool.shutdown(wait=True)
            self._close()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _close(self) -> None:
        if self._events:
            self._events.close()
        if self.speaker:
            self.speaker.close()
        if self.store:
            self.store.close()
        self.screen.close()

    # -- frames and detection ---------------------------------------------------------------

    def _fill_pipeline(self) -> None:
        """Hand frames to the detection threads until both are busy."""
        plan = self.throttle.plan
        while len(self._in_flight) < DETECTION_THREADS:
            frame = self.reader.next_frame(timeout=0.0 if self._in_flight else 0.05)
            if frame is None:
                return
            # Due by the frame's time, not its number: cameras differ in frame rate, and a live
            # or real-time source drops frames. The 1 ms slack absorbs timestamp rounding.
            detect = plan.recognise and frame.t >= self._next_detection_at - 0.001
            if detect:
                self._next_detection_at = frame.t + plan.every_seconds
            self.summary.frames += 1
            self._in_flight.append(
                (frame, self._pool.submit(self._detect, frame.rgb, plan.scale) if detect else None))

    def _detect(self, rgb: np.ndarray, scale: float) -> List[Box]:
        """Runs on a detection thread, with that thread's own detector."""
        engine = getattr(self._engines, "engine", None)
        if engine is None:
            engine = self._engines.engine = FaceEngine()
        if scale < 1.0:
            small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            return scale_boxes(engine.detect(small, self.settings.detection.frame_upsample), scale)
        return engine.detect(rgb, self.settings.detection.frame_upsample)

    # -- recognition -------------------------------------------------------------------------

    def _recognise(self, frame: Frame, boxes: Optional[List[Box]]) -> None:
        self._now = frame.t
        if boxes is None:
            return
        self.summary.detections += 1
        self._last_detection_at = frame.t
        self.tracker.update(boxes, frame.t)
        if self.tracker.tracks:
            self._last_face_at = frame.t
        waiting = self.tracker.needing_embedding(frame.t)
        if waiting:
            faces = self.recogniser.identify(frame.rgb, [track.box for track in waiting])
            self.summary.embeddings += len(faces)
            for track, face in zip(waiting, faces):
                self.tracker.vote(track.id, face.person, face.distance, frame.t)
        for greeting in self.policy.decide(self.tracker.tracks, frame.t):
            self._greet(greeting, frame)

    def _greet(self, greeting: Greeting, frame: Frame) -> None:
        track = next(t for t in self.tracker.tracks if t.id == greeting.track_id)
        name = self.recogniser.names.get(greeting.person) if greeting.person else None
        message = message_for(self.greetings.current, greeting.person, datetime.now(),
                              visit=(greeting.visit or 1) - 1, store_name=name)
        distance = float(track.identity.distance)
        event = {"t": round(frame.t, 3), "frame": frame.index, "person": greeting.person,
                 "name": name, "message": message,
                 # nobody enrolled: no distance (JSON has no Infinity)
                 "distance": round(distance, 4) if math.isfinite(distance) else None}
        log.info("greeting %s", json.dumps(event, ensure_ascii=False))
        self.summary.greetings.append(event)
        self._shown.append((message, frame.t))
        if self._events:
            self._events.write(json.dumps(event, ensure_ascii=False) + "\n")
        if self.speaker:
            self.speaker.say(message)
        if self.options.screenshot_dir:
            self._screenshot(frame, greeting)

    # -- screen ------------------------------------------------------------------------------

    def _scene(self, frame: Optional[Frame], private: bool = False,
               age_floor: float = 0.0) -> Scene:
        content = self.greetings.current.screen
        lifetime = self.settings.ui.greeting_seconds
        self._shown = [(text, at) for text, at in self._shown if self._now - at < lifetime]
        camera = frame.rgb if frame is not None else None
        if private and camera is not None:
            camera = pixelate(camera, [t.box for t in self.tracker.tracks
                                       if not (t.identity and t.identity.person)])
        level = self.throttle.level.name.lower()
        return Scene(
            title=content.title,
            background=hex_to_rgb(content.background_color),
            text_colour=hex_to_rgb(content.text_color),
            accent=hex_to_rgb(content.accent_color),
            lines=tuple(content.values),
            background_image=content.background_image_path(self.settings.greetings),
            greetings=[ShownGreeting(text, max(age_floor, self._now - at))
                       for text, at in self._shown],
            camera=camera,
            status="" if level == "normal" else f"memory {level}",
            camera_lost=self.reader.state is ReaderState.LOST,
            idle=self._now - self._last_face_at > self.settings.ui.idle_after_seconds,
        )

    def _show(self, frame: Optional[Frame]) -> None:
        """Draw the screen; without a new frame (camera lost or slow) live time still runs, so
        greetings fade and the idle screen comes."""
        if frame is None:
            if self._live:
                self._now = time.monotonic()
            frame = self.reader.latest
        self.screen.render(self._scene(frame))

    def _screenshot(self, frame: Frame, greeting: Greeting) -> None:
        """The screen as it looks once the new greeting has faded in."""
        self.screen.render(self._scene(frame, private=True,
                                       age_floor=self.settings.ui.fade_in_seconds))
        path = self.options.screenshot_dir / \
            f"greeting-{frame.index:06d}-{greeting.person or 'stranger'}.png"
        self.summary.screenshots.append(self.screen.save_screenshot(path))

    # -- reloading and status -----------------------------------------------------------------

    def _load_recogniser(self) -> Recogniser:
        """The store's people; with a store that cannot be read (damaged, another user's...),
        nobody: it is reopened every second, and its problem logged once until it changes."""
        try:
            if self.store is None and self.settings.store.exists():
                self.store = Store(self.settings.store, create=False)
            if self.store is not None:
                self.store.check_integrity()
            recogniser = Recogniser.from_store(self.engine, self.store, self.settings.matching)
        except StoreError as error:
            if str(error) != self._store_problem:
                log.error("%s; everybody is a stranger until it is fixed", error)
            self._store_problem = str(error)
            if self.store is not None:
                self.store.close()
                self.store = None
            return Recogniser.from_store(self.engine, None, self.settings.matching)
        self._store_problem = ""
        return recogniser

    def _reload(self) -> None:
        if (self.store is None and self.settings.store.exists()) or \
                (self.store is not None and self._store_changed()):
            self.recogniser = self._load_recogniser()
            if not self._store_problem:
                log.info("store reloaded: %d people enrolled", len(self.recogniser.gallery))
        if self.greetings.poll() and self.speaker:
            self.speaker.language = self.greetings.current.language

    def _store_changed(self) -> bool:
        """True also when the store went bad since: `_load_recogniser` says how."""
        try:
            return self.store.changed()
        except StoreError:
            return True

    def _log_status(self, elapsed: float, frames_before: int, detections_before: int) -> None:
        if elapsed <= 0:
            return
        every = self.options.status_every_seconds
        log.info("status: %.1f fps, %.1f detections/s, %d faces, memory %s, camera %s",
                 (self.summary.frames - frames_before) / every,
                 (self.summary.detections - detections_before) / every,
                 len(self.tracker.tracks), self.throttle.level.name.lower(),
                 self.reader.state.value)
