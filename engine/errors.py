"""Errors a user can act on.

Everything the engine raises on bad input derives from :class:`SonolumeError`, so the CLI
and the GUI can show one readable line instead of a traceback, while real bugs (any other
exception) still surface loudly.
"""


class SonolumeError(Exception):
    """A problem with the user's input or environment, described in plain words."""


class ClipUnavailable(SonolumeError):
    """CLIP weights cannot be loaded (offline, missing file, unknown model)."""


class StyleError(SonolumeError):
    """A style is missing, malformed, or cannot be written."""


class VideoMissing(SonolumeError):
    """A NeRV-CLIP run's video is no longer where it was trained: the user can point at
    its new place (the file's hash is checked), so callers may ask instead of failing."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


class Cancelled(SonolumeError):
    """Long work was stopped by the user; partial results were discarded or checkpointed."""
