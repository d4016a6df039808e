"""One cache folder for everything derived and re-computable (audio analyses, CLIP patch
maps, NeRV-CLIP targets), so a user can find, size and delete it in one place.

``$SONOLUME_CACHE_DIR`` moves it; ``$SONOLUME_CACHE``, the name some commands documented
first, is still honoured. Otherwise it is the platform's user cache folder."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("SONOLUME_CACHE_DIR") or os.environ.get("SONOLUME_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sonolume", appauthor=False))


def cache_dir(kind: str) -> Path:
    """The sub-folder for one kind of cached result (not created here)."""
    return cache_root() / kind
