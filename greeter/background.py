"""Worker threads give way to the drawing thread.

On one core (the Nano stand-in: ``taskset -c 0``) the operating system shares the core among
the drawing thread and the workers (two detection threads, the identity thread) by their nice
values; at equal ones a frame due on screen waits behind whatever scan is running. So each
worker thread lowers its own priority by `NICENESS` when it starts (Linux gives every thread
its own nice value): the drawing thread then runs as soon as it has a frame, and the workers
still get every cycle it leaves, which is most of them (drawing takes ~5 ms of each 33 ms).
"""

import logging
import os
import threading

log = logging.getLogger(__name__)

#: Each step of nice is ~1.25x less CPU share under contention: 5 steps give the drawing
#: thread ~3x a worker's share, enough to draw on time without starving the workers when it
#: is busy.
NICENESS = 5


def yield_to_drawing() -> None:
    """Lower the calling thread's priority (Linux; elsewhere, and when not allowed, nothing)."""
    native_id = getattr(threading, "get_native_id", None)
    if native_id is None or not hasattr(os, "setpriority"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, native_id())
        os.setpriority(os.PRIO_PROCESS, native_id(), current + NICENESS)
    except OSError as error:
        log.debug("worker priority unchanged: %s", error)
