"""The running robot's greetings: reloaded when the file changes, the last valid version kept
while the file is invalid."""

import logging
from pathlib import Path
from typing import Optional, Union

from greeter.errors import ConfigError
from greeter.filechange import FileWatch
from greeter.greetings.read import load_greetings
from greeter.greetings.schema import Greetings


class GreetingsWatcher:
    """The greetings of a running robot, reloaded when the file changes.

    `poll` costs one ``stat`` while nothing changes, so the live loop can call it every half
    second. An invalid or missing file never stops the robot: `current` keeps the last valid
    greetings (the built-in ones if the file was never valid), and the problem is logged once,
    not on every poll, until the file is fixed or has a different problem.
    """

    def __init__(self, path: Union[str, Path], logger: Optional[logging.Logger] = None):
        self.path = Path(path)
        self.logger = logger or logging.getLogger(__name__)
        self.current = Greetings()
        #: What is wrong with the file now; None while its content is in use.
        self.problem: Optional[str] = None
        self._watch = FileWatch(self.path)
        self._load()

    def poll(self) -> bool:
        """Reload if the file changed since the last look; True when a new valid version was
        loaded into `current`."""
        return self._watch.changed() and self._load()

    def _load(self) -> bool:
        try:
            greetings = load_greetings(self.path)
        except ConfigError as error:
            if str(error) != self.problem:
                self.logger.error("greetings not loaded, still using the previous ones:\n%s",
                                  error)
            self.problem = str(error)
            return False
        self.current = greetings
        self.problem = None
        self.logger.info("greetings loaded from %s (%d people)", self.path, len(greetings.people))
        return True
