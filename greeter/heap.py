"""A small C heap for the robot's long-running processes: glibc's malloc defaults suit servers
with memory to spare, not a 4 GB Nano.

Two defaults cost the live loop memory it never gives back:

* one arena per thread that allocates, up to eight per core: the loop runs a dozen threads
  (frame reader, detection, outputs, the identity stage's pipes), each arena keeping what was
  freed in it for itself;
* a moving threshold for blocks mapped straight from the system: once such a block (a
  640x480 frame is 900 KB) is freed, glibc raises the threshold (up to 32 MB), so later frames
  come from the heap, whose free space is rarely returned.

`keep_heap_small` sets two arenas and fixed thresholds: blocks of 128 KB or more are mapped and
returned to the system when freed, and free space beyond 128 KB at the heap's top is returned.
Measured here (``benchmarks/live_clip.py``'s memory run: the Hamilton clip flat out, 1,000
people enrolled), peak resident memory of the loop's process 152 -> 141 MB and of the identity
worker 103 -> 99 MB; the loop's frame rate did not change measurably (a mapped frame costs a
few page faults, well under a millisecond).
"""

import ctypes
import logging

log = logging.getLogger(__name__)

#: mallopt(3) parameters.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
ARENAS = 2
THRESHOLD_BYTES = 128 * 1024


def keep_heap_small() -> bool:
    """Apply the settings above to this process; False where malloc is not glibc's."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    applied = all(mallopt(parameter, value) == 1 for parameter, value in (
        (_M_ARENA_MAX, ARENAS), (_M_MMAP_THRESHOLD, THRESHOLD_BYTES),
        (_M_TRIM_THRESHOLD, THRESHOLD_BYTES)))
    if not applied:
        log.debug("malloc settings not applied")
    return applied
