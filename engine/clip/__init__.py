"""CLIP loading and encoding: real weights by name/tag or file, random configs for tests.

``ClipModel`` is imported on first use so that light commands (``sonolume --help``,
``styles list``) do not pay torch's import time."""

from engine.clip.loader import load_clip
from engine.clip.spec import ClipSpec

__all__ = ["ClipModel", "ClipSpec", "load_clip"]


def __getattr__(name: str):
    if name == "ClipModel":
        from engine.clip.model import ClipModel

        return ClipModel
    raise AttributeError(name)
