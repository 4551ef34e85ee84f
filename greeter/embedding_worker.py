"""What runs in the identity stage's worker process (`greeter.identity`). It imports only
numpy, dlib, `greeter.faces` and `greeter.background`, so the process holds the face models
and little else: the stage's functions would pull in the camera, store and enrolment modules
(~30 MB more in every worker, measured with ``ru_maxrss`` after the imports).
"""

from typing import List, Optional, Sequence

import numpy as np

from greeter.background import prepare_worker, yield_to_drawing
from greeter.faces import CHIP_SIZE, Box, Face, FaceEngine

#: This process's engine (`start`).
_engine: Optional[FaceEngine] = None


def start(parent_pid: int) -> None:
    """Runs first in the worker: it dies with the robot, gives way to drawing, and loads the
    models now rather than when the first guest waits (~1 s here, several on the Nano)."""
    global _engine
    prepare_worker(parent_pid)
    yield_to_drawing()  # the thread that runs the jobs
    _engine = FaceEngine()
    _engine.faces(np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8), [(0, CHIP_SIZE, CHIP_SIZE, 0)])


def started() -> bool:
    return _engine is not None


def embed(rgb: np.ndarray, boxes: Sequence[Box]) -> List[Face]:
    """The faces at `boxes`, aligned and embedded (`FaceEngine.faces`)."""
    return _engine.faces(rgb, boxes)
