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
    """Last lines of defence against a hung test. The watcher process (tests/watcher.py)
    gets the test's deadline, a little past pytest-timeout's: when a deadlock holds the GIL
    (which pytest-timeout's Python-level timer cannot survive), it prints every thread's
    native and Python stacks from outside and ends the run. faulthandler's watchdog, a C
    thread, is the fallback where no watcher runs; it writes to the terminal's own stderr:
    written to the captured stderr, the dump would vanish with the process."""
    import faulthandler

    marker = request.node.get_closest_marker("timeout")
    limit = float((marker.args[0] if marker and marker.args else
                   request.config.getini("timeout")) or 600)
    if _WATCHER is not None:
        _tell_watcher(f"test {limit + WATCHER_GRACE:.0f} {request.node.nodeid}")
    faulthandler.dump_traceback_later(limit + WATCHER_GRACE + 150, exit=True,
                                      file=_REAL_STDERR if _REAL_STDERR is not None
                                      else sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()


# -- the watcher: what a process that dies or hangs mid-test was doing -----------------------
# A C library that ends the process (exit() in LLVM's or Ray's fatal paths, _exit, SIGKILL)
# leaves pytest no chance to print anything: the test's captured output, where that
# library wrote its reason, dies with it. A deadlock that holds the GIL silences every
# Python timer. tests/watcher.py, a small process of its own, holds the capture files open,
# knows each test's deadline and, when the pytest process dies or hangs, prints the running
# test's name, what it printed and (hung) every thread's stacks.
WATCHER_GRACE = 20  # seconds past a test's pytest-timeout before the watcher steps in
BETWEEN_TESTS = 600  # seconds a session's set-up or tear-down may take between tests
_REAL_STDERR: int | None = None
_WATCHER = None


def pytest_configure(config):
    global _REAL_STDERR
    # Plugins configure while pytest's own capture is suspended: fd 2 is the terminal here.
    _REAL_STDERR = os.dup(2)


@pytest.fixture(scope="session", autouse=True)
def _abrupt_exit_reporter(request):
    """Starts the watcher (see above) once capture is on: fds 1 and 2 are then pytest's
    capture files, shared with the watcher."""
    global _WATCHER
    import faulthandler
    import signal
    import subprocess

    if request.config.getoption("capture") != "fd" or _REAL_STDERR is None:
        yield
        return
    # faulthandler answers SIGUSR2 with every thread's Python stack, from its C signal
    # handler: it needs no GIL, so it answers in a deadlock too.
    dump_path = _SANDBOX / "stacks.txt"
    dump_file = open(dump_path, "w")  # noqa: SIM115 - open for the whole run
    faulthandler.register(signal.SIGUSR2, file=dump_file, all_threads=True)
    read_end, write_end = os.pipe()
    captures = [os.dup(1), os.dup(2)]
    _WATCHER = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("watcher.py")), str(read_end),
         str(_REAL_STDERR), str(os.getpid()), str(dump_path), *map(str, captures)],
        pass_fds=(read_end, _REAL_STDERR, *captures), stdin=subprocess.DEVNULL)
    for fd in (read_end, *captures):
        os.close(fd)
    _allow_tracing_by(_WATCHER.pid)
    _WATCHER.pipe = os.fdopen(write_end, "w", buffering=1)
    yield
    faulthandler.unregister(signal.SIGUSR2)
    dump_file.close()


def _allow_tracing_by(pid: int) -> None:
    """Let the watcher's py-spy attach where Linux's Yama allows tracing only by an
    ancestor (ptrace_scope 1): the watcher is this process's child, not its parent."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None).prctl(0x59616D61, pid, 0, 0, 0)  # PR_SET_PTRACER
    except (OSError, AttributeError):
        pass


def _tell_watcher(line: str) -> None:
    try:
        _WATCHER.pipe.write(line + "\n")
    except (OSError, ValueError):  # the watcher is gone: report nothing, fail nothing
        pass


def pytest_runtest_logfinish(nodeid, location):
    if _WATCHER is not None:
        _tell_watcher(f"idle {BETWEEN_TESTS}")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Say goodbye to the watcher, then end the process at once with pytest's own status
    once the summary is out (as the app's launcher does): the interpreter's teardown only
    adds a full collection of the torch/Qt heap and, from nanobind (soxr), ~20 lines of
    'leaked instance' notes about live analysers still referenced at exit, which would
    push the summary out of the few last lines CI shows."""
    if _WATCHER is not None:
        _tell_watcher("bye")
        try:
            _WATCHER.pipe.close()
        except OSError:
            pass
        _WATCHER.wait(timeout=10)
    if _EXIT_STATUS is not None and os.environ.get("SONOLUME_TEST_TEARDOWN") != "full":
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(int(_EXIT_STATUS))


_EXIT_STATUS: int | None = None


def pytest_sessionfinish(session, exitstatus):
    import shutil

    global _EXIT_STATUS
    _EXIT_STATUS = int(exitstatus)
    shutil.rmtree(_SANDBOX, ignore_errors=True)
