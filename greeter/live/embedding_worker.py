"""The identity stage's worker process (`greeter.live.identity`), started as
``python -m greeter.live.embedding_worker PARENT_PID JOBS_FD RESULTS_FD``.

It imports only numpy, dlib, `greeter.recognition.faces` and `greeter.background`, so the process
holds the face models and little else: the stage's own module would pull in the camera, store and
enrolment modules (~30 MB more, measured with ``ru_maxrss`` after the imports). It is a plain
subprocess fed through two pipes, not a `multiprocessing` pool: a pool's spawned process brings
multiprocessing's resource tracker, a third Python process (12 MB) that this worker does not
need.

The pipes carry messages: an 8-byte length, then a pickle (both ends are this package, in
processes of the same user). The worker writes one message once its models are loaded (None),
then answers each job ``(rgb, boxes)`` with ``("faces", [Face, ...])``, or ``("error", text)``
when embedding failed. The end of the jobs pipe ends it.
"""

import contextlib
import pickle
import struct
import sys
from typing import Any, BinaryIO, Callable, List, Optional, Sequence

import numpy as np

from greeter.background import prepare_worker, yield_to_drawing
from greeter.heap import keep_heap_small
from greeter.recognition.faces import CHIP_SIZE, Box, Face, FaceEngine, sharpness

_LENGTH = struct.Struct("<Q")


def write_message(pipe: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_LENGTH.pack(len(data)) + data)
    pipe.flush()


def read_message(pipe: BinaryIO) -> Any:
    """The next message; EOFError once the other end has closed (or died)."""
    header = pipe.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(header)
    data = pipe.read(length)
    if len(data) < length:
        raise EOFError
    return pickle.loads(data)


def serve(jobs: BinaryIO, results: BinaryIO, model: str = "dlib") -> None:
    """Load the models (now rather than when the first guest waits: ~1 s here, several on the
    Nano), say so, then answer jobs until the jobs pipe ends."""
    engine = FaceEngine()
    embed = engine.faces
    if model == "sface":
        embed = _sface_faces(engine)
    embed(np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8), [(0, CHIP_SIZE, CHIP_SIZE, 0)])
    write_message(results, None)
    while True:
        try:
            rgb, boxes = read_message(jobs)
        except EOFError:
            return
        try:
            answer = ("faces", embed(rgb, boxes))
        except Exception as error:  # a job that fails must not end the worker
            answer = ("error", f"{type(error).__name__}: {error}")
        write_message(results, answer)


def _sface_faces(engine: FaceEngine) -> Callable[[np.ndarray, Sequence[Box]],
                                                 List[Optional[Face]]]:
    """SFace's faces of the boxes, weighted as dlib's: the box's size, and the sharpness and
    head turn of dlib's chip (its landmarks only, ~2 ms; the track rule's vote weights were
    fitted on them); None for a box SFace finds no face in. Imports OpenCV, which the dlib
    worker never does (-17 MB), and holds SFace (~100 MB)."""
    from greeter.recognition.sface import SFaceEngine

    model = SFaceEngine()

    def faces(rgb: np.ndarray, boxes: Sequence[Box]) -> List[Optional[Face]]:
        chips, turns = engine.chips_and_turns(rgb, boxes)
        return [None if embedding is None else
                Face(box=tuple(box), embedding=embedding, sharpness=sharpness(chip), turn=turn)
                for box, chip, turn, embedding in zip(boxes, chips, turns,
                                                      model.embed_boxes(rgb, boxes))]

    return faces


def main(argv: Sequence[str]) -> None:
    parent_pid, jobs_fd, results_fd = (int(value) for value in argv[:3])
    model = argv[3] if len(argv) > 3 else "dlib"
    prepare_worker(parent_pid)
    keep_heap_small()
    yield_to_drawing()
    with open(jobs_fd, "rb") as jobs, open(results_fd, "wb") as results, \
            contextlib.suppress(BrokenPipeError):  # the loop is gone
        serve(jobs, results, model)


if __name__ == "__main__":
    main(sys.argv[1:])
