"""Errors whose text is shown to users as is.

Every message names the thing that went wrong and, where there is one, the fix. Code that
catches a `GreeterError` prints ``str(error)`` and moves on to the next photo, frame or file;
anything else is a bug.
"""


class GreeterError(Exception):
    """Base class: the message is complete and meant for a person to read."""


class ImageError(GreeterError):
    """A file could not be read as a photo (missing, a directory, corrupt, not an image...)."""


class FaceError(GreeterError):
    """A photo was read but its face is unusable for enrolment (none, several, tiny, blurred)."""


class StoreError(GreeterError):
    """The embedding store cannot be opened or does not accept a change."""


class ConfigError(GreeterError):
    """A configuration file (settings, greetings) is invalid."""
