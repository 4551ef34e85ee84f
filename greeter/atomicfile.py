"""Replacing a file so that a crash, a kill or a full disk never leaves half of it.

The content goes to a temporary file in the same folder, which is flushed and fsynced, then
renamed over the target (atomic on POSIX), and the folder is fsynced so the rename itself
survives a power cut. Readers see the old file or the new one, never a mix.

`private_folder` makes the folder such files go to when they hold names or faces, and
`make_private` repairs a file that somebody made readable by others.
"""

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Optional


def replace_file(path: Path, content: bytes, mode: Optional[int] = None) -> None:
    """Atomically make `content` the content of `path`.

    With `mode` the file gets that mode (a bundle of biometric data is always ``0600``);
    without, an existing file keeps its mode and owner (an admin's greetings file stays as
    they set it up) and a new one is created ``0600``.
    """
    try:
        existing: Optional[os.stat_result] = path.stat()
    except FileNotFoundError:
        existing = None
    descriptor, temporary = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.",
                                             suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            if mode is not None or existing is None:
                os.fchmod(file.fileno(), 0o600 if mode is None else mode)
            else:
                os.fchmod(file.fileno(), stat.S_IMODE(existing.st_mode))
                with suppress(PermissionError):  # only root may give a file to somebody else
                    os.fchown(file.fileno(), existing.st_uid, existing.st_gid)
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, str(path))
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    folder = os.open(str(path.parent), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def private_folder(folder: Path) -> Path:
    """`folder`, created ``0700`` whatever the umask when it is missing, for files that hold
    names or faces. An existing folder (maybe a shared one such as /tmp) keeps its mode: the
    files in it are made private themselves."""
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    return folder


def make_private(path: Path) -> Optional[int]:
    """Take group and other permissions away from the file at `path` (``0644`` becomes
    ``0600``); the owner's stay, so a file made read-only on purpose stays so. Its former mode
    when it was changed, None when it was private already or is not there; `OSError` when it
    cannot be changed (another owner's file)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    if not mode & 0o077:
        return None
    os.chmod(path, mode & 0o700)
    return mode
