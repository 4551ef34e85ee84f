"""Background workers: threads that give way to the drawing thread, and worker processes
that die with the process that started them.

On one core (the Nano stand-in: ``taskset -c 0``) the operating system shares the core among
the drawing thread and the workers (two detection threads, the identity process) by their nice
values; at equal ones a frame due on screen waits behind whatever scan is running. So each
worker thread lowers its own priority by `NICENESS` when it starts (Linux gives every thread
its own nice value): the drawing thread then runs as soon as it has a frame, and the workers
still get every cycle it leaves, which is most of them (drawing takes ~5 ms of each 33 ms).
"""

import ctypes
import logging
import os
import signal
import sys
import threading
import time

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


#: prctl(2) option: the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1


def prepare_worker(parent_pid: int) -> None:
    """Runs first in every worker process (photo analysis, the live loop's identity stage)."""
    # Each worker already has a core of its own; BLAS threads (dlib's ResNet) and OpenCV's
    # thread pool (SFace, read when OpenCV is first used) on top only contend.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "OPENCV_FOR_THREADS_NUM"):
        os.environ[variable] = "1"
    # Ctrl-C in a terminal reaches the whole process group: the main process decides what
    # stops (and stops the workers itself).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int) -> None:
    """End this worker as soon as the main process is gone, even killed by ``kill -9``, which
    no handler of the main process sees (orphaned workers held ~150 MB each forever).

    Linux kills it at once (``PR_SET_PDEATHSIG``; strictly, when the thread that started it
    ends, e.g. the thread consuming `analyse_photos` from start to close); elsewhere a
    thread checks every second whether it has been handed to another parent.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
            if os.getppid() != parent_pid:  # the parent died before the request took effect
                os._exit(1)
            return
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)
