"""Saying greetings aloud through espeak-ng, without ever blocking the robot's loop.

A greeting that arrives while the previous one is still being spoken is dropped rather than
queued: a guest who walked on should not hear a stale welcome meant for the last one.

Each greeting is spoken in its own language (a German entry in German), because espeak-ng
reading "Guten Morgen" with an English voice is hard to understand.

Failures raise `VoiceError`: a missing program when asked to speak, a program that cannot
start, and (from `check`, asked often by the live loop) a program that ended with a failure
status. The caller decides what a failure means; the live loop logs it and goes on greeting.
"""

import shutil
import subprocess
from typing import Optional

from greeter.errors import GreeterError


class VoiceError(GreeterError):
    """Greetings cannot be spoken: the voice program is missing, cannot start, or fails."""


class Speaker:
    """Speaks through a child process of `command` (espeak-ng's options: ``-v LANGUAGE``)."""

    def __init__(self, language: str = "en", command: str = "espeak-ng"):
        """`language` is used when `say` is given none."""
        self.language = language
        self._name = command
        self._command = shutil.which(command)
        self._process: Optional[subprocess.Popen] = None
        self._failure: Optional[str] = None

    @property
    def available(self) -> bool:
        return self._command is not None

    @property
    def speaking(self) -> bool:
        """True while an utterance is being spoken."""
        return self._process is not None and self._process.poll() is None

    def require(self) -> None:
        """Raise `VoiceError` when the program is not installed."""
        if self._command is None:
            raise VoiceError(f"{self._name} is not installed: greetings are not spoken "
                             "(apt-get install espeak-ng)")

    def say(self, text: str, language: Optional[str] = None) -> bool:
        """Start speaking `text` in `language`; False when dropped because the voice is busy.
        Raises `VoiceError` when the program is missing or cannot start."""
        self.require()
        if self.speaking:
            return False
        self._collect()
        try:
            self._process = subprocess.Popen(
                [self._command, "-v", language or self.language, "--", text],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        except OSError as error:
            self._process = None
            raise VoiceError(f"{self._command} cannot start ({error.strerror}): greetings are "
                             "not spoken") from None
        return True

    def check(self) -> None:
        """Raise `VoiceError` once for the last utterance if it ended with a failure status."""
        self._collect()
        failure, self._failure = self._failure, None
        if failure:
            raise VoiceError(failure)

    def close(self) -> None:
        """Stop speaking. The last utterance's failure, if any, stays for `check`."""
        if self.speaking:
            self._process.terminate()
            self._process.wait()
            self._process = None
        self._collect()

    def _collect(self) -> None:
        """Remember why the finished utterance failed, and forget the process."""
        if self._process is None or self._process.poll() is None:
            return
        status = self._process.returncode
        self._process = None
        if status != 0:
            self._failure = (f"{self._command} exited with status {status}: check it with "
                             f"`{self._name} hello`")
