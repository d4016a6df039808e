"""CLIP loading and encoding: real weights by name/tag or file, random configs for tests."""

from engine.clip.loader import ClipSpec, load_clip
from engine.clip.model import ClipModel

__all__ = ["ClipModel", "ClipSpec", "load_clip"]
