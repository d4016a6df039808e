"""fp32 or bf16 for a live view, decided in the background while the view draws fp32.

The preview cannot wait for the bf16 kernel: building it takes about a second for the AMX
kernel and 15-55 s cold for inductor's, and measuring it against fp32 another few tenths.
So a view asks :meth:`LivePrecision.allows` before each frame, which never blocks: it says
bf16 only for networks a background thread has already checked (the kernel built, bf16
measured faster than fp32 in CPU time, this network's probe frame within the error budget
of fp32, see engine.render.factory.choose_precision), and queues the check for any network
it has not seen. Until then the view draws fp32; afterwards it switches at its next
frame, which looks the same (the budget keeps the two within 4/255 at the 99.9th
percentile) and only comes faster.

One instance per process serves every view (:func:`shared`): one build, one timing.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable

import torch

from engine.render.bf16 import bf16_hardware
from engine.render.factory import (
    FAST_BUDGET,
    MIN_SPEEDUP,
    ErrorBudget,
    PrecisionChoice,
    choose_precision,
    forced_fp32,
)

log = logging.getLogger("sonolume.render")
WORKER_NICE = 10  # the check runs behind the GUI and the render threads


class LivePrecision:
    """Background precision checks for live drawing (see the module notes).

    ``add_listener(fn)``: ``fn(self)`` is called from the worker thread after each check
    (a GUI hands it on to its own thread). :meth:`warm_up`: build and time the kernel on
    a network before any view asks (the start-up probe), so the first style a user picks
    only needs its accuracy check (tens of ms)."""

    def __init__(self, budget: ErrorBudget = FAST_BUDGET, min_speedup: float = MIN_SPEEDUP,
                 hardware: Callable[[], str | None] = bf16_hardware):
        self.budget = budget
        self.min_speedup = min_speedup
        self.hardware = hardware
        self._listeners: list[Callable[[], Callable | None]] = []  # weak references
        self._cond = threading.Condition()
        self._verdicts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._queue: list = []  # networks waiting for a check, oldest first
        self._busy = False
        self._thread: threading.Thread | None = None
        self._closed = False
        self.last: PrecisionChoice | None = None  # the latest check's outcome
        self.disabled = forced_fp32()
        if self.disabled is None and hardware() is None:
            self.disabled = ("fp32: this CPU has no bf16 hardware (AMX-BF16 or AVX512-BF16), "
                             "and emulated bf16 is slower than fp32")

    # -- what a view asks --------------------------------------------------------------------
    def kind_for(self, cppns: Iterable) -> str:
        """How to draw a frame of ``cppns`` now (never blocks): "bf16", "bf16x3" (where
        plain bf16 missed the budget but the split products meet it) or "fp32" (also for
        any network not checked yet: it is queued and drawn fp32 meanwhile). A morph
        in-between counts as its two ends (pass both): its weights blend two checked
        networks."""
        if self.disabled:
            return "fp32"
        kinds = set()
        with self._cond:
            for cppn in cppns:
                verdict = self._verdicts.get(cppn)
                if verdict is None:
                    kinds.add("fp32")
                    if not any(c is cppn for c in self._queue):
                        self._queue.append(cppn)
                        self._start()
                        self._cond.notify_all()
                else:
                    kinds.add(verdict.variant)
        for kind in ("fp32", "bf16x3", "bf16"):  # the most exact any of them needs
            if kind in kinds:
                return kind
        return "fp32"

    def allows(self, cppns: Iterable) -> bool:
        """Whether every one of ``cppns`` may be drawn in bf16 (either variant) now."""
        return self.kind_for(cppns) != "fp32"

    def add_listener(self, fn: Callable[[LivePrecision], None]) -> None:
        """A bound method is held weakly (a view that is gone stops listening by itself)."""
        ref = weakref.WeakMethod(fn) if hasattr(fn, "__self__") else (lambda: fn)
        with self._cond:
            self._listeners.append(ref)

    def remove_listener(self, fn) -> None:
        with self._cond:
            self._listeners = [r for r in self._listeners if r() is not None and r() != fn]

    def warm_up(self, cppn) -> None:
        """Queue the start-up probe on ``cppn`` (any network of the usual shape)."""
        if not self.disabled:
            self.allows([cppn])

    def verdict(self, cppn) -> PrecisionChoice | None:
        with self._cond:
            return self._verdicts.get(cppn)

    @property
    def state(self) -> str:
        """"fp32" (for good here, or the latest check chose it), "checking" (a check queued
        or running), or "bf16" / "bf16x3" (the latest check chose it)."""
        if self.disabled:
            return "fp32"
        with self._cond:
            if self._queue or self._busy:
                return "checking"
        return self.last.variant if self.last is not None else "fp32"

    @property
    def reason(self) -> str:
        if self.disabled:
            return self.disabled
        if self.last is None:
            return "fp32 while the bf16 kernel is built and measured"
        return self.last.reason

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no check is queued or running (tests, benches); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, wait: float = 0.0) -> None:
        """Stop checking; ``wait``: seconds to wait for a check under way to end."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    # -- the worker --------------------------------------------------------------------------
    def _start(self) -> None:  # with self._cond held
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="sonolume-precision",
                                            daemon=True)
            _running.add(self)
            self._thread.start()

    def _run(self) -> None:
        _lower_priority()
        torch.set_num_threads(1)  # this thread's own count; the probe times one thread
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                cppn = self._queue[0]
                self._busy = True
            try:
                choice = choose_precision(cppn, "cpu", self.budget, self.min_speedup,
                                          self.hardware)
            except Exception as exc:  # noqa: BLE001 - a failed check means fp32, said once
                log.warning("bf16 check failed, drawing fp32: %s: %s", type(exc).__name__, exc)
                choice = PrecisionChoice(torch.float32, f"fp32: the bf16 check failed ({exc})")
            log.info("live precision: %s", choice.reason)
            with self._cond:
                self._verdicts[cppn] = choice
                self._queue = [c for c in self._queue if c is not cppn]
                self.last = choice
                self._busy = False
                self._cond.notify_all()
                self._listeners = [r for r in self._listeners if r() is not None]
                listeners = [r() for r in self._listeners]
            for fn in listeners:
                if fn is None:
                    continue
                try:
                    fn(self)
                except Exception:  # noqa: BLE001 - a listener's bug must not end the checks
                    log.exception("precision listener failed")


def _lower_priority() -> None:
    """Let the GUI and the render threads win the CPU over the check (Linux: a thread's
    nice value is its own; raising it needs no privilege)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid,
                       min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICE))
    except OSError:
        pass


# A daemon thread still inside torch when the interpreter shuts down is ended by a forced
# unwind through C++ frames, which aborts the process ("terminate called without an active
# exception"); so at exit every check is told to stop and its thread is waited for (one
# check is a fraction of a second).
_running: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for live in list(_running):
        live.close(wait=10.0)


_shared: LivePrecision | None = None
_shared_lock = threading.Lock()


def shared() -> LivePrecision:
    """The process's one LivePrecision with the fast budget (the preview and the output
    window use it together)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LivePrecision()
        return _shared
