"""Shared fixtures: a tiny random CLIP so the whole pipeline runs in seconds offline."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TINY_CLIP_CONFIG = DATA / "tiny-clip.json"

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Nothing a test writes may land in the user's own folders: platformdirs (library, runs,
# caches, settings) follows the XDG variables on Linux, so point them at a throw-away tree
# before anything reads them. Subprocesses inherit it.
_SANDBOX = Path(tempfile.mkdtemp(prefix="sonolume-tests-"))
for _var, _sub in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"),
                   ("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state")):
    os.environ[_var] = str(_SANDBOX / _sub)


@pytest.fixture(scope="session")
def tiny_clip_config() -> Path:
    return TINY_CLIP_CONFIG


@pytest.fixture(scope="session")
def tiny_clip():
    from engine.clip import ClipSpec, load_clip

    return load_clip(ClipSpec(config=str(TINY_CLIP_CONFIG)), warn=lambda msg: None)


@pytest.fixture
def library_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "library"
    monkeypatch.setenv("SONOLUME_LIBRARY", str(path))
    return path


@pytest.fixture(autouse=True)
def _hang_watchdog(request):
    """Last line of defence against a hung test: faulthandler's watchdog is a C thread, so
    it still dumps every stack and ends the run when a deadlock holds the GIL (which
    pytest-timeout's Python-level timer cannot survive)."""
    import faulthandler

    marker = request.node.get_closest_marker("timeout")
    limit = marker.args[0] if marker and marker.args else request.config.getini("timeout")
    faulthandler.dump_traceback_later(float(limit or 600) + 30, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(_SANDBOX, ignore_errors=True)
