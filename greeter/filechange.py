"""Has this file changed since I last looked? One answer for the robot's hot reloads (the
store, the greetings file, the door's request folder), at the cost of one ``stat`` a path.

A file's state is what changes whenever it does: an edit in place changes its size or times,
an atomic replacement (how greeter and most editors write) its inode, a ``chmod`` its ctime.
"""

import os
from pathlib import Path
from typing import Optional, Tuple, Union

#: (device, inode, size, modification time, change time), the times in nanoseconds.
FileState = Tuple[int, int, int, int, int]


def file_state(path: Union[str, Path]) -> Optional[FileState]:
    """The state of the file or folder at `path`; None when there is nothing there. Other
    errors (a folder that may not be searched) are raised: the caller says what they mean."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def same_file(state: Optional[FileState], other: Optional[FileState]) -> bool:
    """Whether two states are of the same file (device and inode), changed or not."""
    return (state is None) == (other is None) and (state is None or state[:2] == other[:2])


class FileWatch:
    """Files watched together: `changed` says whether any of them changed since the last
    call (or since the watch began). A file that cannot be looked at counts as a state of its
    own, so one that becomes readable again is a change."""

    def __init__(self, *paths: Union[str, Path]):
        self.paths = tuple(Path(path) for path in paths)
        self._seen = self.states()

    def states(self) -> Tuple:
        states = []
        for path in self.paths:
            try:
                states.append(file_state(path))
            except OSError as error:
                states.append(("unreadable", error.errno))
        return tuple(states)

    def changed(self) -> bool:
        now = self.states()
        changed = now != self._seen
        self._seen = now
        return changed
