"""Shared fixtures: a tiny random CLIP so the whole pipeline runs in seconds offline."""

from __future__ import annotations

import os
import sys
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
    pytest-timeout's Python-level timer cannot survive). It writes to the terminal's own
    stderr: written to the captured stderr, the dump would vanish with the process."""
    import faulthandler

    marker = request.node.get_closest_marker("timeout")
    limit = marker.args[0] if marker and marker.args else request.config.getini("timeout")
    faulthandler.dump_traceback_later(float(limit or 600) + 30, exit=True,
                                      file=_REAL_STDERR if _REAL_STDERR is not None
                                      else sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()


# -- what a process that dies mid-test printed ----------------------------------------------
# A C library that ends the process (exit() in LLVM's or Ray's fatal paths, _exit, SIGKILL)
# leaves pytest no chance to print anything: the test's captured output, where that
# library wrote its reason, dies with it. A small watcher process holds the capture files
# open and, when the pytest process ends without saying goodbye, prints the running
# test's name and what it had printed.
_REAL_STDERR: int | None = None
_WATCHER = None

_WATCHER_CODE = r"""
import os, sys
pipe, out, *captures = (int(a) for a in sys.argv[1:])
test, bye = "(before the first test)", False
with os.fdopen(pipe, "r") as lines:
    for line in lines:
        if line.startswith("test "):
            test = line[5:].strip()
        elif line.strip() == "bye":
            bye = True
if not bye:
    report = [f"\n\n*** the pytest process ended abruptly while running {test} ***\n"]
    for fd in captures:
        size = os.fstat(fd).st_size
        data = os.pread(fd, 20000, max(0, size - 20000)).decode("utf-8", "replace")
        if data.strip():
            report.append(f"--- what it printed (fd capture, last {len(data)} chars) ---\n")
            report.append(data + "\n")
    os.write(out, "".join(report).encode())
"""


def pytest_configure(config):
    global _REAL_STDERR
    # Plugins configure while pytest's own capture is suspended: fd 2 is the terminal here.
    _REAL_STDERR = os.dup(2)


@pytest.fixture(scope="session", autouse=True)
def _abrupt_exit_reporter(request):
    """Starts the watcher (see above) once capture is on: fds 1 and 2 are then pytest's
    capture files, shared with the watcher."""
    global _WATCHER
    import subprocess

    if request.config.getoption("capture") != "fd" or _REAL_STDERR is None:
        yield
        return
    read_end, write_end = os.pipe()
    captures = [os.dup(1), os.dup(2)]
    _WATCHER = subprocess.Popen(
        [sys.executable, "-c", _WATCHER_CODE, str(read_end), str(_REAL_STDERR),
         *map(str, captures)],
        pass_fds=(read_end, _REAL_STDERR, *captures), stdin=subprocess.DEVNULL)
    for fd in (read_end, *captures):
        os.close(fd)
    _WATCHER.pipe = os.fdopen(write_end, "w", buffering=1)
    yield


def _tell_watcher(line: str) -> None:
    try:
        _WATCHER.pipe.write(line + "\n")
    except (OSError, ValueError):  # the watcher is gone: report nothing, fail nothing
        pass


def pytest_runtest_logstart(nodeid, location):
    if _WATCHER is not None:
        _tell_watcher(f"test {nodeid}")


def pytest_unconfigure(config):
    if _WATCHER is not None:
        _tell_watcher("bye")
        try:
            _WATCHER.pipe.close()
        except OSError:
            pass
        _WATCHER.wait(timeout=10)


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(_SANDBOX, ignore_errors=True)
