"""Run long work off the GUI thread (napari's ``thread_worker`` idea, kept small).

``Worker(fn, *args, **kwargs)`` calls ``fn(*args, progress=..., cancel=..., **kwargs)`` on a
thread pool. ``progress(value)`` may be called from the worker thread any number of times;
``cancel`` is a :class:`threading.Event` the function should poll. Signals arrive on the GUI
thread, in this order: any number of ``progress``, then exactly one of ``finished(result)``,
``errored(WorkerError)`` or ``cancelled(message)``, then ``done``.

Every error is logged with its traceback and reaches the user as one readable line:
:class:`engine.errors.SonolumeError` messages are already written for people; anything else
is a bug and says so, pointing at the log.
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import Cancelled, SonolumeError

log = logging.getLogger("sonolume.app.workers")

_POOL: QThreadPool | None = None


def pool() -> QThreadPool:
    """The app's own pool: training, analysis, export and previews must not queue behind
    each other on a 2-core machine's default pool of 2 threads."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(8)
    return _POOL


@dataclass
class WorkerError:
    message: str  # one readable line for the user
    exception: BaseException
    traceback: str
    title: str = ""

    @property
    def is_bug(self) -> bool:
        return not isinstance(self.exception, SonolumeError)


def describe_exception(exc: BaseException, what: str = "") -> str:
    if isinstance(exc, SonolumeError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{what or 'the task'} ran out of memory"
    if isinstance(exc, OSError):
        return f"{what or 'the task'} failed: {exc.strerror or exc}" + (
            f" ({exc.filename})" if getattr(exc, "filename", None) else "")
    return (f"{what or 'the task'} failed with an unexpected error "
            f"({type(exc).__name__}: {exc}); details are in the log")


class WorkerSignals(QObject):
    progress = Signal(object)
    finished = Signal(object)
    errored = Signal(object)  # WorkerError
    cancelled = Signal(str)
    done = Signal()


class Worker(QRunnable):
    _live: set[Worker] = set()  # keep Python objects alive until they report

    def __init__(self, fn, *args, name: str = "", pass_control: bool = True, **kwargs):
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.name = name or getattr(fn, "__name__", "task")
        self.pass_control = pass_control
        self.cancel_event = threading.Event()
        self.signals = WorkerSignals()
        self.running = False
        self.is_done = False
        self.signals.done.connect(self._forget)

    # convenience wiring ------------------------------------------------------------------
    def on(self, progress=None, finished=None, errored=None, cancelled=None, done=None):
        for sig, slot in ((self.signals.progress, progress), (self.signals.finished, finished),
                          (self.signals.errored, errored), (self.signals.cancelled, cancelled),
                          (self.signals.done, done)):
            if slot is not None:
                sig.connect(slot)
        return self

    def start(self) -> Worker:
        Worker._live.add(self)
        self.running = True
        pool().start(self)
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    def _forget(self) -> None:
        self.running = False
        self.is_done = True
        Worker._live.discard(self)

    def run(self) -> None:  # on the pool thread
        sig = self.signals
        try:
            if self.pass_control:
                result = self.fn(*self.args, progress=sig.progress.emit,
                                 cancel=self.cancel_event, **self.kwargs)
            else:
                result = self.fn(*self.args, **self.kwargs)
        except Cancelled as exc:
            log.info("%s cancelled: %s", self.name, exc)
            sig.cancelled.emit(str(exc) or "cancelled")
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user
            tb = traceback.format_exc()
            if isinstance(exc, SonolumeError):
                log.warning("%s failed: %s", self.name, exc)
            else:
                log.error("%s failed:\n%s", self.name, tb)
            sig.errored.emit(WorkerError(describe_exception(exc, self.name), exc, tb,
                                         title=self.name))
        else:
            if self.cancel_event.is_set() and result is None:
                sig.cancelled.emit("cancelled")
            else:
                sig.finished.emit(result)
        finally:
            sig.done.emit()

    @classmethod
    def cancel_all(cls, wait_ms: int = 5000) -> bool:
        for w in list(cls._live):
            w.cancel()
        return pool().waitForDone(wait_ms)


def run_in_thread(fn, *args, name: str = "", **kwargs) -> Worker:
    """Start ``fn`` on the pool without progress/cancel arguments."""
    return Worker(fn, *args, name=name, pass_control=False, **kwargs).start()
