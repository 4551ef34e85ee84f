"""Saying greetings aloud through espeak-ng, without ever blocking the robot's loop.

A greeting that arrives while the previous one is still being spoken is dropped rather than
queued: a guest who walked on should not hear a stale welcome meant for the last one.
"""

import logging
import shutil
import subprocess
from typing import Optional

log = logging.getLogger(__name__)


class Speaker:
    """Speaks through an ``espeak-ng`` child process; silent when it is not installed."""

    def __init__(self, language: str = "en", command: str = "espeak-ng"):
        self.language = language
        self._command = shutil.which(command)
        self._process: Optional[subprocess.Popen] = None
        if self._command is None:
            log.warning("%s is not installed: greetings will not be spoken "
                        "(apt-get install espeak-ng)", command)

    @property
    def available(self) -> bool:
        return self._command is not None

    def say(self, text: str) -> bool:
        """Start speaking `text`; False when it was dropped (busy or no voice)."""
        if self._command is None or (self._process and self._process.poll() is None):
            return False
        self._process = subprocess.Popen(
            [self._command, "-v", self.language, "--", text],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        return True

    def close(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
