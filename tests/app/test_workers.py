"""The generic worker: results, readable errors, cancellation, progress."""

from __future__ import annotations

import time

from app.workers import Worker
from engine.errors import Cancelled, SonolumeError


def _collect(worker):
    got = {"progress": [], "finished": [], "errored": [], "cancelled": [], "done": 0}
    worker.on(progress=got["progress"].append, finished=got["finished"].append,
              errored=got["errored"].append, cancelled=got["cancelled"].append,
              done=lambda: got.__setitem__("done", got["done"] + 1))
    return got


def test_result_and_progress(qtbot):
    def job(n, *, progress, cancel):
        for i in range(n):
            progress(i)
        return n * 2

    w = Worker(job, 3)
    got = _collect(w)
    with qtbot.waitSignal(w.signals.done, timeout=5000):
        w.start()
    assert got["progress"] == [0, 1, 2] and got["finished"] == [6] and got["done"] == 1


def test_errors_are_readable(qtbot):
    def user_error(*, progress, cancel):
        raise SonolumeError("the file is not audio")

    def bug(*, progress, cancel):
        raise ZeroDivisionError("division by zero")

    for fn, expect, is_bug in ((user_error, "the file is not audio", False),
                               (bug, "unexpected error (ZeroDivisionError", True)):
        w = Worker(fn, name="loading")
        got = _collect(w)
        with qtbot.waitSignal(w.signals.done, timeout=5000):
            w.start()
        (err,) = got["errored"]
        assert expect in err.message and err.is_bug is is_bug
        assert "Traceback" in err.traceback


def test_cancel(qtbot):
    def slow(*, progress, cancel):
        for _ in range(500):
            if cancel.is_set():
                raise Cancelled("stopped by the user")
            time.sleep(0.01)
        return "finished"

    w = Worker(slow)
    got = _collect(w)
    with qtbot.waitSignal(w.signals.done, timeout=10000):
        w.start()
        w.cancel()
    assert got["cancelled"] == ["stopped by the user"] and got["finished"] == []
