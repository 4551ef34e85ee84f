"""pygame (SDL), imported the way the robot's screen modules need it.

* Without its banner: pygame prints one to stdout on import, which would end up in the
  service's journal and in the output of commands that print JSON.
* Without ``pkg_resources``: pygame imports it only to find its own data files
  (``pygame.pkgdata``), and falls back to plain file paths when it is missing. Importing it cost
  8.4 MB of the loop's memory and ~80 ms here (pygame alone: 8.4 MB instead of 16.8), on a 4 GB
  Nano. It is hidden only while pygame is imported: anything later may still import it.
"""

import os
import sys

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
_HIDDEN = "pkg_resources" not in sys.modules
if _HIDDEN:
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  (makes its import fail)
try:
    import pygame
    import pygame.freetype
finally:
    if _HIDDEN:
        del sys.modules["pkg_resources"]

__all__ = ["pygame"]
