"""Live preview: the selected style driven by the loaded track, synced to the player.

Two drawing paths share one interface:

* ``GLView`` (see :mod:`app.stage.glview`): a QOpenGLWidget that draws the CPPN as a shader with
  moderngl inside Qt's own GL context;
* ``RasterView``: the torch renderer on a background thread, painted as an image. Its
  resolution adapts frame by frame to hold the target frame rate (a software-GL machine
  draws far faster this way). On a CPU with bf16 hardware it draws fp32 until a background
  check (engine.render.live_precision) has built the bf16 kernel, measured it faster and
  found the style within the preview's error budget of fp32, then bf16 from the next frame
  on: the same picture to 4/255, only sooner, so the adaptive size grows. Set
  ``SONOLUME_PRECISION=fp32`` to keep it fp32.

``auto`` measures both on a small frame and keeps the faster; the active path, the
internal resolution and the measured frame rate are always shown.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time

from PySide6.QtCore import QRectF, QSize, Qt, QThread, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.common import to_qimage

log = logging.getLogger("sonolume.app.preview")

MIN_SIDE = 32
STILL_SECONDS = 1.0  # the most a paused (still) frame may take to render


class AdaptiveScale:
    """Chooses the internal render size: the largest that renders within the frame budget.

    The cost of a CPPN frame is proportional to its pixel count, so after each frame the
    pixel budget is corrected by ``budget / measured`` (damped, and with headroom)."""

    def __init__(self, target_fps: float, max_pixels: int = 1920 * 1080):
        self.target_fps = target_fps
        self.pixels = 160 * 90.0
        self.max_pixels = max_pixels
        self.rate = 0.0  # measured pixels per second (0 until the first frame)

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        width, height = max(1, width), max(1, height)
        full = width * height
        px = min(self.pixels, full, self.max_pixels)
        s = math.sqrt(px / full)
        w, h = max(1, round(width * s)), max(1, round(height * s))
        short = min(w, h)
        if short < MIN_SIDE:
            k = MIN_SIDE / short
            w, h = round(w * k), round(h * k)
        return w, h

    def update(self, seconds: float, pixels: int) -> None:
        if seconds <= 0 or pixels <= 0:
            return
        rate = pixels / seconds
        self.rate = rate if self.rate == 0 else 0.7 * self.rate + 0.3 * rate
        budget = 0.8 / self.target_fps  # headroom for painting and the event loop
        ideal = pixels * budget / seconds
        ratio = max(0.5, min(1.6, ideal / max(self.pixels, 1.0)))
        self.pixels = max(MIN_SIDE * MIN_SIDE, self.pixels * ratio ** 0.6)


class FpsMeter:
    def __init__(self, window: float = 1.5):
        self.window = window
        self.stamps: list[float] = []

    def tick(self) -> None:
        now = time.perf_counter()
        self.stamps.append(now)
        while self.stamps and now - self.stamps[0] > self.window:
            self.stamps.pop(0)

    @property
    def fps(self) -> float:
        if len(self.stamps) < 2:
            return 0.0
        span = self.stamps[-1] - self.stamps[0]
        return (len(self.stamps) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        self.stamps.clear()


RENDER_NICE = 5  # how much less CPU the render threads get than the GUI thread, when short
# Renderers the GL preview keeps (one per style it drew lately): a transition needs two, a
# morph one more; a VJ flicking through the library must not pile up one per click.
PREVIEW_RENDERERS = 4


def lower_thread_priority(nice: int = RENDER_NICE) -> bool:
    """Let the GUI thread win the CPU over the calling (render) thread.

    The preview keeps one render thread per core busy on purpose (the adaptive size fills
    the frame budget), so on a 2-core machine the GUI thread competed with them as an
    equal and the event loop ran late (soak: p99 ~180 ms). On Linux a thread's nice value
    is its own (setpriority on the thread id); raising it needs no privilege. QThread's
    priorities do nothing under Linux's default scheduler, hence the OS call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid)
                                                 + nice))
        return True
    except OSError:
        return False


class TorchRenderThread(QThread):
    """Draws the most recent scene frame; older requests are dropped, never queued.

    A frame is the engine's :class:`engine.scene.Frame` (one style, or two inside a
    transition), drawn by the engine's SceneDrawer: the same code the export runs."""

    frameReady = Signal(object, float, int, bool)  # QImage, seconds, serial, full
    failed = Signal(str)

    def __init__(self, parent=None, single_threaded: bool = False, precision=None):
        """``precision``: an engine.render.live_precision.LivePrecision saying, frame by
        frame, whether bf16 may draw (None: fp32 always)."""
        super().__init__(parent)
        self.single_threaded = single_threaded
        self.precision = precision
        self._cond = threading.Condition()
        self._request = None
        self._stop = False
        self.drawers: dict = {}  # "fp32" / "bf16" / "bf16x3" -> SceneDrawer, on first use
        self.last_precision = "fp32"  # what drew the frame last emitted
    def request(self, frame, width: int, height: int, serial: int,
                full: bool = False) -> None:
        with self._cond:
            self._request = (frame, width, height, serial, full)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if not self.wait(30000):
            log.error("preview render thread did not stop")

    def run(self) -> None:
        import torch

        from engine.render.torch_renderer import TorchRenderer
        from engine.scene import SceneDrawer

        if self.single_threaded:
            torch.set_num_threads(1)  # per calling thread: training keeps its own count
        lower_thread_priority()
        try:
            while True:
                with self._cond:
                    while not self._stop and self._request is None:
                        self._cond.wait()
                    if self._stop:
                        return
                    frame, w, h, serial, full = self._request
                    self._request = None
                try:
                    kind = "fp32"
                    if self.precision is not None:
                        kind = self.precision.kind_for([layer.cppn for layer in frame.layers])
                    drawer = self.drawers.get(kind)
                    if drawer is None:
                        cppn = frame.layers[0].cppn
                        dtype = torch.float32 if kind == "fp32" else torch.bfloat16
                        drawer = self.drawers[kind] = SceneDrawer(
                            TorchRenderer(cppn, dtype=dtype, bf16x3=kind == "bf16x3"), cppn,
                            switch=True)
                    t0 = time.perf_counter()
                    image = drawer.draw(frame, w, h)
                    dt = time.perf_counter() - t0
                    self.last_precision = kind
                except Exception as exc:  # noqa: BLE001 - reported to the user, loop lives on
                    log.exception("torch preview render failed")
                    self.failed.emit(f"preview rendering failed: {exc}")
                    continue
                self.frameReady.emit(to_qimage(image), dt, serial, full)
        finally:
            for drawer in self.drawers.values():
                drawer.release()
                drawer.first.release()

    @property
    def drawer(self):
        """The fp32 drawer (tests and benches look at it)."""
        return self.drawers.get("fp32")


class RasterView(QWidget):
    """The torch path: frames rendered off the GUI thread at an adaptive size.

    On a multi-core CPU several frames are drawn at once, one single-threaded renderer per
    core: a CPPN frame is too small a job to split well across threads (bench/render.py
    measured ~5x the throughput of two threads on one frame on 2 cores). Frames that
    arrive after a newer one was shown are dropped."""

    path = "torch"
    frameShown = Signal()
    failed = Signal(str)
    precisionChanged = Signal(str)  # the background check's latest word (for a status line)

    def __init__(self, target_fps: int = 24, parent=None, workers: int | None = None,
                 precision=None):
        """``precision``: the LivePrecision deciding fp32 vs bf16 (default: the process's
        shared one, warmed up here on the base network; ``False``: fp32 only)."""
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.image: QImage | None = None
        self.scale = AdaptiveScale(target_fps)
        self.meter = FpsMeter()
        self.placeholder = "Select a style in the library"
        self._serial = 0
        self._shown = 0
        self._next = None
        n = workers or max(1, min(4, os.cpu_count() or 1))
        self.precision = _live_precision() if precision is None else (precision or None)
        if self.precision is not None:
            self.precision.add_listener(self._precision_checked)
        self.shown_precision = "fp32"  # what drew the picture on screen
        self.threads = [TorchRenderThread(self, single_threaded=n > 1,
                                          precision=self.precision) for _ in range(n)]
        self._idle = list(self.threads)
        for t in self.threads:
            t.frameReady.connect(lambda *a, t=t: self._on_frame(t, *a))
            t.failed.connect(lambda msg, t=t: self._on_failed(t, msg))
            t.start()
        self.has_cppn = False
        self.last_render_seconds = 0.0
        self.shown_size = (0, 0)

    @property
    def thread(self):  # the first renderer (tests and benches look at it)
        return self.threads[0]

    def _precision_checked(self, precision) -> None:
        """From the check's worker thread: a queued signal hands it to the GUI thread."""
        try:
            self.precisionChanged.emit(precision.reason)
        except RuntimeError:  # the widget was deleted without shutdown(): stop listening
            precision.remove_listener(self._precision_checked)

    @property
    def precision_note(self) -> str:
        """What draws the preview and why, for a status line or tooltip."""
        if self.precision is None:
            return "fp32"
        return f"{self.shown_precision}: {self.precision.reason}"

    def sizeHint(self) -> QSize:
        return QSize(640, 360)

    @property
    def render_size(self) -> tuple[int, int]:
        dpr = self.devicePixelRatioF()
        return self.scale.size_for(int(self.width() * dpr), int(self.height() * dpr))

    def set_target_fps(self, fps: int) -> None:
        self.scale.target_fps = fps

    def set_cppn(self, cppn) -> None:
        """Whether there is anything to draw (the frames themselves carry their CPPNs)."""
        self.has_cppn = cppn is not None
        if cppn is None:
            self.image = None
            self.update()

    @property
    def full_size(self) -> tuple[int, int]:
        """The size of a still frame: the widget's own, unless that would take longer than
        about a second at the measured speed."""
        dpr = self.devicePixelRatioF()
        w, h = max(1, int(self.width() * dpr)), max(1, int(self.height() * dpr))
        limit = self.scale.max_pixels
        if self.scale.rate > 0:
            per_thread = self.scale.rate / len(self.threads)
            limit = min(limit, max(self.scale.pixels, per_thread * STILL_SECONDS))
        k = min(1.0, math.sqrt(limit / (w * h)))
        return max(1, round(w * k)), max(1, round(h * k))

    def draw(self, frame, full: bool = False) -> None:
        """Ask for a scene frame (``full``: at the widget's own resolution, for a still);
        when every renderer is busy, this one replaces any waiting one."""
        if not self.has_cppn:
            return
        self._serial += 1
        if not self._idle:
            self._next = (frame, self._serial, full)
            return
        self._send(frame, self._serial, full)

    def _send(self, frame, serial: int, full: bool) -> None:
        w, h = self.full_size if full else self.render_size
        self._idle.pop(0).request(frame, w, h, serial, full)

    def _on_failed(self, thread, message: str) -> None:
        self._idle.append(thread)
        self.failed.emit(message)

    def _on_frame(self, thread, image: QImage, seconds: float, serial: int,
                  full: bool) -> None:
        self._idle.append(thread)
        self.last_render_seconds = seconds
        if not full:
            # With k renderers working side by side a frame is due every seconds / k.
            self.scale.update(seconds / len(self.threads), image.width() * image.height())
        if serial > self._shown:
            if not full:
                self.meter.tick()
            self.shown_precision = thread.last_precision
            self.image = image
            self.shown_size = (image.width(), image.height())
            self._shown = serial
            self.update()
            self.frameShown.emit()
        if self._next is not None:
            frame, serial, full = self._next
            self._next = None
            self._send(frame, serial, full)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(0, 0, 0))
        if self.image is not None and self.has_cppn:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(QRectF(self.rect()), self.image)
        else:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        p.end()

    def grab_frame(self) -> QImage | None:
        return self.image

    def shutdown(self) -> None:
        if self.precision is not None:
            self.precision.remove_listener(self._precision_checked)
        for t in self.threads:
            t.stop()


def _live_precision():
    """The process's shared fp32/bf16 check, started on the base network so the kernel
    is built and timed before the first style is picked (nothing starts where the CPU has
    no bf16 hardware or SONOLUME_PRECISION=fp32)."""
    from engine.render.live_precision import shared

    precision = shared()
    if not precision.disabled:
        precision.warm_up(_base_network())
    return precision


_BASE = []


def _base_network():
    """One network of the usual shape for the start-up probe, kept for the process (the
    check is keyed by the network object)."""
    if not _BASE:
        from engine.cppn.model import CPPN

        _BASE.append(CPPN(seed=0))
    return _BASE[0]
