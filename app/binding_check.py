"""Refuse a Qt binding that leaks references to ``None``/``True``/``False``.

PySide6/shiboken6 6.12.0 on CPython < 3.12 drops one reference to ``None`` on every call of
a Qt method that returns nothing (``QLabel.setText``, ``QPainter.setPen``...) and one to
``True`` on every ``Signal.emit()``. The preview and the timeline make thousands of such
calls a second, so the interpreter aborts (``none_dealloc``) about 25 s into playback.
pyproject keeps that release off Python < 3.12, but a user can still end up with it (an
older install, another tool's pin): a probe of a few thousand calls takes milliseconds and
turns a crash mid-set into a clear message at start-up.

On CPython >= 3.12 these objects are immortal (PEP 683): their counts never move, the leak
is harmless, and :func:`refcounts_are_immortal` says so.
"""

from __future__ import annotations

import gc
import sys

# Calls per probe: well above the counts' natural jitter (0-2 in a quiet probe), and few,
# because a fresh process holds only a few thousand references to True: a long probe of a
# leaking binding would itself kill the process.
PROBE_CALLS = 32
MESSAGE = (
    "this Qt binding (PySide6 {version} on Python {python}) loses a reference to None or "
    "True on every Qt call; Sonolume would crash about 25 s into playback. Install another "
    "release: pip install 'PySide6!=6.12.*' (or run Sonolume on Python 3.12 or newer). "
    "Set SONOLUME_ALLOW_BROKEN_QT=1 to start anyway."
)


def refcounts_are_immortal() -> bool:
    """True where None/True/False have immortal reference counts (CPython >= 3.12)."""
    return sys.version_info >= (3, 12)


def snapshot() -> dict[str, int]:
    """Reference counts of the singletons a leaking binding drops."""
    gc.collect()
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True),
            "False": sys.getrefcount(False)}


def fall(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """How far each count went down (0 where it stayed or rose)."""
    return {k: max(0, before[k] - after[k]) for k in before}


def probe(calls: int = PROBE_CALLS) -> dict[str, int]:
    """Drive the binding's two leaking paths ``calls`` times; return how far each count
    fell. Needs no QApplication: a bare QObject and a Python-defined signal suffice."""
    from PySide6.QtCore import QObject, Signal

    class _Emitter(QObject):
        ping = Signal()
        flag = Signal(bool)

    obj = _Emitter()
    received = []
    obj.flag.connect(received.append)
    before = snapshot()
    for i in range(calls):
        obj.setObjectName("p")  # a void Qt method
        obj.blockSignals(False)  # another one, returning the old state (a bool)
        obj.ping.emit()
        obj.flag.emit(bool(i & 1))
    after = snapshot()
    lost = fall(before, after)
    _give_back(lost)
    obj.deleteLater()
    del received
    return lost


def _give_back(lost: dict[str, int]) -> None:
    """Return the references a leaking binding took during the probe, so measuring it does
    not bring the crash closer (a fresh process holds only ~550 references to True)."""
    if refcounts_are_immortal() or not any(lost.values()):
        return
    import ctypes

    objects = {"None": None, "True": True, "False": False}
    for name, n in lost.items():
        for _ in range(n):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(objects[name]))


def binding_leaks(calls: int = PROBE_CALLS) -> bool:
    """True when the installed binding leaks enough to crash a long session."""
    if refcounts_are_immortal():
        return False
    return max(probe(calls).values()) >= calls // 2


def leak_message() -> str:
    import PySide6

    return MESSAGE.format(version=PySide6.__version__,
                          python=".".join(map(str, sys.version_info[:3])))
