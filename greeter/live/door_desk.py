"""The robot's side of enrolling at the door (`greeter.people.door` has the request folder
and the choice of frames).

Once a second (`take_request`) the request folder beside the store is looked at (one stat); a
request makes the robot show "Look at the camera, NAME" (`prompt`) and hand the largest face
of each frame it detects in the next few seconds (`offer`) to a worker thread of its own (with
a face engine of its own, loaded on the first request: ~45 MB), which enrols the best frames
into the store; the hot reload then picks them up like any other enrolment. While a request
is served every scan is a full one: its "several faces" rule needs every face in view.
"""

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from greeter.people.door import DoorCollection, DoorInbox, DoorResult, DoorRules, door_folder
from greeter.people.store import StoreBase
from greeter.recognition.faces import Box, FaceEngine
from greeter.screen.display import ShownGreeting
from greeter.settings import EnrolmentSettings

log = logging.getLogger(__name__)


class DoorDesk:
    """Serves the console's requests to enrol at the door, one at a time."""

    def __init__(self, open_store: Callable[[], StoreBase], local_folder: Path,
                 rules: DoorRules, enrolment: EnrolmentSettings):
        self._open_store = open_store
        self._rules = rules
        self._enrolment = enrolment
        self._local_folder = local_folder
        self._inbox = DoorInbox(local_folder, rules)
        #: The request being served: its frames are being collected.
        self.collection: Optional[DoorCollection] = None
        #: The worker that measures, embeds and stores the faces, and its engine.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="door")
        self._engine: Optional[FaceEngine] = None
        self._finishing: Optional[Future] = None
        self._problem: Optional[str] = None

    @property
    def collecting(self) -> bool:
        return self.collection is not None

    def take_request(self) -> None:
        """Start serving the oldest waiting request, unless one is being served."""
        if self.collection is not None or self._finishing is not None:
            return
        try:
            request = self._inbox.take()
        except OSError as error:  # tried again in a second; logged once
            problem = f"{door_folder(self._local_folder)}: {error.strerror or error}"
            if problem != self._problem:
                log.error("%s; enrolling at the door waits until it is fixed", problem)
                self._problem = problem
            return
        self._problem = None
        if request is None:
            return
        log.info("door enrolment of %s: look at the camera", request.person)
        if self._engine is None:
            self._engine = FaceEngine()
        self.collection = DoorCollection(request, self._rules, self._enrolment,
                                         self._open_store, self._local_folder, self._worker,
                                         self._engine)

    def frame_drawn(self, t: float) -> None:
        """A frame at `t` was drawn: stop collecting once the request's time is up."""
        if self.collection is not None and self.collection.due(t):
            self._finish()

    def offer(self, rgb: np.ndarray, boxes: Sequence[Box]) -> None:
        """The faces of a detected frame, while collecting."""
        if self.collection is not None:
            self.collection.offer(rgb, boxes)

    def prompt(self, now: float) -> Optional[ShownGreeting]:
        """"Look at the camera, NAME" while collecting, faded in from the first frame."""
        if self.collection is None:
            return None
        started = now if self.collection.started is None else self.collection.started
        name = self.collection.request.name
        return ShownGreeting(f"Look at the camera, {name}", now - started, name)

    def step(self) -> Optional[str]:
        """End a collection whose frames stopped coming; the name to thank once an enrolment
        ended with faces enrolled."""
        if self.collection is not None and self.collection.timed_out():
            self._finish()
        finishing = self._finishing
        if finishing is None or not finishing.done():
            return None
        self._finishing = None
        if finishing.exception() is not None:
            log.error("enrolling at the door failed: %s; ask again", finishing.exception())
            return None
        result: DoorResult = finishing.result()
        return result.name if result.enrolled else None

    def close(self) -> Optional[str]:
        """Finish (the source ended mid-collection: answer with what came) and wait for the
        worker; the name to thank, as `step`."""
        if self.collection is not None:
            self._finish()
        self._worker.shutdown(wait=True)
        return self.step()

    def _finish(self) -> None:
        """Stop collecting: the worker enrols the best frames and answers the console."""
        self._finishing = self.collection.finish()
        self.collection = None
