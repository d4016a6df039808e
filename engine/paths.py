"""Where Sonolume keeps things, and the environment variables that move them.

One answer for the whole program, so the CLI, the app and the tests agree:

| what | variable | default (platformdirs) |
|---|---|---|
| user style library | ``SONOLUME_LIBRARY`` | data folder ``/styles`` |
| reactivity presets | (in the library) | library ``/reactivity`` |
| shows | (in the library) | library ``/shows`` |
| training and NeRV runs | ``SONOLUME_RUNS`` | data folder ``/runs`` |
| derived results | ``SONOLUME_CACHE_DIR`` (or old ``SONOLUME_CACHE``) | cache folder |
| settings and mappings | ``SONOLUME_CONFIG_DIR`` | config folder |
| the log file | ``SONOLUME_LOG`` (a file) | log folder ``/sonolume.log`` |

Reactivity presets and shows travel with the library whose styles they name; their folder
names are reserved (:data:`LIBRARY_RESERVED`), so a style scan never takes them for broken
styles.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "sonolume"
LIBRARY_ENV = "SONOLUME_LIBRARY"
RUNS_ENV = "SONOLUME_RUNS"
CACHE_ENV = "SONOLUME_CACHE_DIR"
CACHE_ENV_OLD = "SONOLUME_CACHE"
CONFIG_ENV = "SONOLUME_CONFIG_DIR"
LOG_ENV = "SONOLUME_LOG"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def data_root() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def library_dir(override: str | os.PathLike | None = None) -> Path:
    """The user's style library: an explicit folder, else $SONOLUME_LIBRARY, else the
    platform's data folder."""
    if override:
        return Path(override).expanduser()
    return _env_path(LIBRARY_ENV) or data_root() / "styles"


PRESETS_SUBDIR = "reactivity"
SHOWS_SUBDIR = "shows"
LIBRARY_RESERVED = frozenset({PRESETS_SUBDIR, SHOWS_SUBDIR})


def presets_dir(library: str | os.PathLike | None = None) -> Path:
    """User reactivity presets (JSON)."""
    return library_dir(library) / PRESETS_SUBDIR


def shows_dir(library: str | os.PathLike | None = None) -> Path:
    """Saved shows (JSON)."""
    return library_dir(library) / SHOWS_SUBDIR


def runs_dir(override: str | os.PathLike | None = None) -> Path:
    """Training runs (checkpoints to resume); NeRV-CLIP runs go in its ``nerv`` folder."""
    if override:
        return Path(override).expanduser()
    return _env_path(RUNS_ENV) or data_root() / "runs"


def nerv_runs_dir() -> Path:
    return runs_dir() / "nerv"


def cache_root() -> Path:
    """Everything derived and re-computable (audio analyses, CLIP maps, NeRV targets):
    safe to delete."""
    env = _env_path(CACHE_ENV) or _env_path(CACHE_ENV_OLD)
    if env:
        return env
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def cache_dir(kind: str) -> Path:
    """The sub-folder for one kind of cached result (not created here)."""
    return cache_root() / kind


def config_dir() -> Path:
    """Small user settings the engine owns (MIDI/OSC mappings, cluster address)."""
    env = _env_path(CONFIG_ENV)
    if env:
        return env
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def log_file() -> Path:
    """The app's rotating log, which a bug report attaches; here so every folder Sonolume
    writes to is answered in one place."""
    env = _env_path(LOG_ENV)
    if env:
        return env
    import platformdirs

    return Path(platformdirs.user_log_dir(APP, appauthor=False)) / "sonolume.log"
