"""Drive the real app with the output window on a virtual X server with two monitors.

Run by ``test_output_window.py`` in a subprocess (``QT_QPA_PLATFORM=xcb``) on an Xvfb
display whose one wide X screen is split into two RandR monitors, ``OUT-A`` and ``OUT-B``
(:func:`set_monitors`): Qt sees them as two screens, as it sees a laptop panel and a
projector. Writes ``OUT_DIR/output-*.png`` and ``OUT_DIR/output-report.json``.

The monitors are set through Xlib's RandR calls (libXrandr, by ctypes): no ``xrandr``
program is needed. The server must run with ``-noreset``: Xvfb otherwise resets, and
forgets the monitors, when its last client disconnects.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]

SCREEN_A = ("OUT-A", 0, 0, 1280, 720)  # the laptop: the main window
SCREEN_B = ("OUT-B", 1280, 0, 1024, 768)  # the projector: the output
X_SIZE = (SCREEN_A[3] + SCREEN_B[3], max(SCREEN_A[4], SCREEN_B[4]))


# -- RandR monitors through Xlib -------------------------------------------------------------
class _Monitor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_ulong), ("primary", ctypes.c_int),
                ("automatic", ctypes.c_int), ("noutput", ctypes.c_int), ("x", ctypes.c_int),
                ("y", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
                ("mwidth", ctypes.c_int), ("mheight", ctypes.c_int),
                ("outputs", ctypes.POINTER(ctypes.c_ulong))]


class _Resources(ctypes.Structure):
    _fields_ = [("timestamp", ctypes.c_ulong), ("config_timestamp", ctypes.c_ulong),
                ("ncrtc", ctypes.c_int), ("crtcs", ctypes.c_void_p),
                ("noutput", ctypes.c_int), ("outputs", ctypes.POINTER(ctypes.c_ulong))]


def _libs():
    x11 = ctypes.CDLL("libX11.so.6")
    xrr = ctypes.CDLL("libXrandr.so.2")
    vp, ul, i = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int
    ip = ctypes.POINTER(ctypes.c_int)
    x11.XOpenDisplay.restype = vp
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = ul
    x11.XDefaultRootWindow.argtypes = [vp]
    x11.XInternAtom.restype = ul
    x11.XInternAtom.argtypes = [vp, ctypes.c_char_p, i]
    x11.XGetAtomName.restype = ctypes.c_char_p
    x11.XGetAtomName.argtypes = [vp, ul]
    x11.XSync.argtypes = [vp, i]
    x11.XCloseDisplay.argtypes = [vp]
    x11.XGetGeometry.argtypes = [vp, ul, ctypes.POINTER(ul), ip, ip,
                                 ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                 ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint)]
    x11.XTranslateCoordinates.argtypes = [vp, ul, ul, i, i, ip, ip, ctypes.POINTER(ul)]
    xrr.XRRQueryVersion.argtypes = [vp, ip, ip]
    xrr.XRRGetScreenResourcesCurrent.restype = ctypes.POINTER(_Resources)
    xrr.XRRGetScreenResourcesCurrent.argtypes = [vp, ul]
    xrr.XRRFreeScreenResources.argtypes = [ctypes.c_void_p]
    xrr.XRRAllocateMonitor.restype = ctypes.POINTER(_Monitor)
    xrr.XRRAllocateMonitor.argtypes = [vp, i]
    xrr.XRRSetMonitor.argtypes = [vp, ul, ctypes.POINTER(_Monitor)]
    xrr.XRRDeleteMonitor.argtypes = [vp, ul, ul]
    xrr.XRRFreeMonitors.argtypes = [ctypes.c_void_p]
    xrr.XRRGetMonitors.restype = ctypes.POINTER(_Monitor)
    xrr.XRRGetMonitors.argtypes = [vp, ul, i, ip]
    return x11, xrr


class _Display:
    def __init__(self, name: str):
        self.x11, self.xrr = _libs()
        self.d = self.x11.XOpenDisplay(name.encode())
        if not self.d:
            raise OSError(f"cannot open X display {name}")
        major, minor = ctypes.c_int(), ctypes.c_int()
        # The server takes monitor requests only from a client that said it speaks 1.5.
        if not self.xrr.XRRQueryVersion(self.d, ctypes.byref(major), ctypes.byref(minor)) \
                or (major.value, minor.value) < (1, 5):
            self.close()
            raise OSError(f"RandR {major.value}.{minor.value} has no monitors (need 1.5)")
        self.root = self.x11.XDefaultRootWindow(self.d)

    def close(self) -> None:
        self.x11.XSync(self.d, 0)
        self.x11.XCloseDisplay(self.d)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def set_monitors(display: str, monitors, give_output_to: int = 0) -> None:
    """Define RandR monitors ``(name, x, y, w, h)``. The server's one output goes to the
    ``give_output_to``-th, so its automatic whole-screen monitor does not stay beside them."""
    with _Display(display) as x:
        res = x.xrr.XRRGetScreenResourcesCurrent(x.d, x.root)
        outputs = [res.contents.outputs[k] for k in range(res.contents.noutput)]
        x.xrr.XRRFreeScreenResources(res)
        for k, (name, left, top, w, h) in enumerate(monitors):
            own = k == give_output_to and bool(outputs)
            m = x.xrr.XRRAllocateMonitor(x.d, 1 if own else 0)
            info = m.contents
            info.name = x.x11.XInternAtom(x.d, name.encode(), 0)
            info.x, info.y, info.width, info.height = left, top, w, h
            info.mwidth, info.mheight = w * 254 // 960, h * 254 // 960  # 96 dpi
            info.primary = int(k == 0)
            if own:
                info.outputs[0] = outputs[0]
            x.xrr.XRRSetMonitor(x.d, x.root, m)
            x.xrr.XRRFreeMonitors(m)


def delete_monitor(display: str, name: str) -> None:
    with _Display(display) as x:
        x.xrr.XRRDeleteMonitor(x.d, x.root, x.x11.XInternAtom(x.d, name.encode(), 0))


def monitors(display: str) -> list[tuple]:
    with _Display(display) as x:
        n = ctypes.c_int()
        m = x.xrr.XRRGetMonitors(x.d, x.root, 1, ctypes.byref(n))
        out = [(x.x11.XGetAtomName(x.d, m[k].name).decode(), m[k].x, m[k].y, m[k].width,
                m[k].height) for k in range(n.value)]
        x.xrr.XRRFreeMonitors(m)
        return out


def x_window_rect(display: str, wid: int) -> list[int]:
    """Where the X server has the window (root coordinates): not what Qt believes."""
    with _Display(display) as x:
        root, child = ctypes.c_ulong(), ctypes.c_ulong()
        gx, gy, rx, ry = (ctypes.c_int() for _ in range(4))
        w, h, b, depth = (ctypes.c_uint() for _ in range(4))
        x.x11.XGetGeometry(x.d, wid, ctypes.byref(root), ctypes.byref(gx), ctypes.byref(gy),
                           ctypes.byref(w), ctypes.byref(h), ctypes.byref(b),
                           ctypes.byref(depth))
        x.x11.XTranslateCoordinates(x.d, wid, root.value, 0, 0, ctypes.byref(rx),
                                    ctypes.byref(ry), ctypes.byref(child))
        return [rx.value, ry.value, w.value, h.value]


# -- the app ----------------------------------------------------------------------------------
def _rect(r) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def _hist(img: np.ndarray) -> np.ndarray:
    q = (img // 64).reshape(-1, 3).astype(np.int32)
    h = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64).astype(float)
    return h / h.sum()


def main(out_dir: str, path: str = "torch") -> int:
    """``path``: "torch" runs every step; "gl" (the preview on the GL shader, the output
    following it) the placement, the frames and the keys, which re-create the window
    around its GL widget."""
    t0 = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = round(time.monotonic() - t0, 2)

    gl = path == "gl"
    prefix = "output-gl-" if gl else "output-"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="sonolume-output-"))
    for key, name in (("SONOLUME_LIBRARY", "library"), ("SONOLUME_SETTINGS", "settings.ini"),
                      ("SONOLUME_LOG", "sonolume.log"), ("SONOLUME_CACHE_DIR", "cache"),
                      ("SONOLUME_RUNS", "runs")):
        os.environ.setdefault(key, str(tmp / name))
    display = os.environ["DISPLAY"]

    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.stage.glview import configure_gl_format
    from tests.app.screenshots import spin, wait_until

    configure_gl_format()
    qapp = QApplication([sys.argv[0]])
    qapp.setOrganizationName("SonolumeTest")
    import app.dialogs as dialogs
    from app.main import MainWindow
    from app.settings import AppSettings

    errors: list[str] = []
    dialogs.error = lambda parent, title, message, details="": errors.append(
        f"{title}: {message}")
    report: dict = {"errors": errors, "path": path, "phases_s": phases}
    phase("qt")
    report["screens"] = {s.name(): _rect(s.geometry()) for s in QGuiApplication.screens()}
    w = MainWindow(AppSettings())
    a = next(s for s in QGuiApplication.screens() if s.name() == SCREEN_A[0])
    w.setScreen(a)
    w.setGeometry(QRect(20, 20, 1200, 660))
    w.show()
    wait_until(w.isVisible, 5)
    stage, control = w.stage, w.output
    report["main_screen"] = w.screen().name()
    report["style"] = stage.shown_style.name if stage.shown_style else None
    report["preview_path"] = stage.active_path

    phase("main window")
    # 1. The output on the second screen, fullscreen, with exactly that screen's geometry.
    control.choose_screen(SCREEN_B[0])
    o = control.window
    stage.seek(2.0)
    stage.play()
    if gl:  # software GL: each context compiles the CPPN shader, then ~2 frames/s
        wait_until(lambda: o.view.shown >= 2, 60)
    else:
        wait_until(lambda: o.view.shown >= 5 and len(stage.meter.stamps) > 2, 60)
    spin(300)
    b = next(s for s in QGuiApplication.screens() if s.name() == SCREEN_B[0])
    report["output"] = {"screen": o.screen().name(), "geometry": _rect(o.geometry()),
                        "x_geometry": x_window_rect(display, int(o.winId())),
                        "fullscreen": o.isFullScreen(),
                        "frameless": bool(o.windowFlags()
                                          & Qt.WindowType.FramelessWindowHint),
                        "screen_geometry": _rect(b.geometry()),
                        "remembered": w.settings.output_screen,
                        "path": o.path,
                        "frames_playing": o.view.shown,
                        "fps_playing": round(o.view.meter.fps, 2),
                        "preview_fps_playing": round(stage.meter.fps, 2),
                        "render_size": list(o.view.shown_size),
                        "preview_render_size": list(stage.view.shown_size),
                        "status": control.status_label.text()}

    phase("output open")
    _same_frame(report, stage, o, gl)
    phase("same frame")
    # What the audience sees (the window's pixels, the scaled image included), the main
    # window, and both monitors side by side as the two rooms see them.
    shot = o.grab()
    shot.save(str(out / f"{prefix}window.png"))
    from tests.app.screenshots import qimage_array, stats

    report["same_frame"]["window_stats"] = stats(qimage_array(shot.toImage()))
    w.grab().save(str(out / f"{prefix}main-window.png"))
    desk = QImage(*X_SIZE, QImage.Format.Format_RGB32)
    desk.fill(0)
    painter = QPainter(desk)
    for s in QGuiApplication.screens():
        painter.drawPixmap(s.geometry().topLeft(), s.grabWindow(0))
    painter.end()
    desk.save(str(out / f"{prefix}two-screens.png"))
    report["desktop_size"] = [desk.width(), desk.height()]

    if not gl:  # (after the stills: its frames in flight finish during the key presses)
        stage.play()
        _slow_render(report, control, stage, o)
        phase("slow render")

    # 4. Keys on the output: F11 toggles, Esc leaves fullscreen only, never closes. Each
    # change re-creates the native window (borderless or not): frames must go on after.
    keys = []
    presses = [("F11", Qt.Key.Key_F11), ("F11", Qt.Key.Key_F11), ("Esc", Qt.Key.Key_Escape),
               ("Esc", Qt.Key.Key_Escape), ("F11", Qt.Key.Key_F11)]
    for label, key in presses[2:] if gl else presses:  # GL on a CPU: a slow paint each
        QTest.keyClick(o, key)
        spin(300)
        keys.append({"after": label, "visible": o.isVisible(), "fullscreen": o.isFullScreen(),
                     "screen": o.screen().name(), "geometry": _rect(o.geometry())})
    report["keys"] = keys
    phase("keys")
    stage.play()
    shown = o.view.shown
    wait_until(lambda: o.view.shown >= shown + (1 if gl else 2), 20)
    report["frames_after_keys"] = o.view.shown - shown
    report["path_after_keys"] = o.path
    phase("frames after keys")

    if not gl:
        _unplug(report, qapp, display, o)
        phase("unplug")

    # 6. Closed: back to the normal preview, which plays on.
    o.close()
    spin(200)
    preview_frames = [0]
    stage.view.frameShown.connect(lambda: preview_frames.__setitem__(0, preview_frames[0] + 1))
    spin(1000)
    report["closed"] = {"open": control.is_open, "action_checked": control.action.isChecked(),
                        "preview_pixels_cap": stage.view.scale.max_pixels,
                        "preview_frames_1s": preview_frames[0],
                        "preview_playing": stage.playing}
    stage.pause()
    phase("closed")
    report["log"] = os.environ["SONOLUME_LOG"]
    (out / f"{prefix}report.json").write_text(json.dumps(report, indent=2))
    w.close()
    return 0


def _slow_render(report, control, stage, o) -> None:
    """3. Slow rendering must not hold up the event loop: the output at 540p (a 720x540
    CPPN frame takes about a second on a CPU, 25 times the frame budget) while a 10 ms
    timer measures how late the GUI thread answers, and the stage's clock ticks on."""
    from PySide6.QtCore import QTimer

    from tests.app.screenshots import spin

    control.choose_resolution("540p")
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(beat)
    ticks = [0]
    stage.timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    shown0, asked0 = o.view.shown, o.view.requested
    probe.start()
    spin(3000)
    probe.stop()
    g = np.array(gaps[1:]) * 1000
    report["slow_render"] = {"resolution": "540p", "render_size": list(o.view.render_size),
                             "loop_gap_ms_p50": round(float(np.percentile(g, 50)), 1),
                             "loop_gap_ms_p99": round(float(np.percentile(g, 99)), 1),
                             "loop_gap_ms_max": round(float(g.max()), 1),
                             "stage_ticks_3s": ticks[0],
                             "frames_shown": o.view.shown - shown0,
                             "frames_asked": o.view.requested - asked0}
    control.choose_resolution("adaptive")


def _same_frame(report, stage, o, gl: bool) -> None:
    """2. The same frame as the preview: paused at one instant, the output's still (torch)
    equals the engine's own drawing of the stage's frame there, and its colours match the
    preview's (another size and shape, so compared by colour)."""
    from tests.app.screenshots import qimage_array, spin, stats, wait_until

    stage.pause()
    stage.seek(3.0)
    wait_until(lambda: o._still is not None and o._still[0] == 3.0, 20)
    if gl:
        spin(1500)  # the full-size still on both
        out_img = qimage_array(o.view.grab_frame())
        prev_img = qimage_array(stage.view.grab_frame())
        diff = None
    else:
        # The full-size still on both: every render thread idle, nothing waiting.
        wait_until(lambda: not o._refine.isActive() and o.view._next is None
                   and len(o.view._idle) == len(o.view.threads)
                   and not stage._refine.isActive(), 30)
        spin(300)
        import torch

        from engine.render.torch_renderer import TorchRenderer
        from engine.scene import SceneDrawer

        out_img = qimage_array(o.view.image)
        prev_img = qimage_array(stage.view.grab_frame())
        # The reference in the precision the output drew this still in (the background
        # check may have switched it to bf16: then the same bf16 kernel, not fp32's).
        kind = o.view.shown_precision
        report["output_precision"] = kind
        dtype = torch.float32 if kind == "fp32" else torch.bfloat16
        drawer = SceneDrawer(make=lambda cppn: TorchRenderer(cppn, dtype=dtype,
                                                              bf16x3=kind == "bf16x3"))
        ref = drawer.draw(stage.frame_at(stage.current_time()), out_img.shape[1],
                          out_img.shape[0])
        drawer.release()
        diff = np.abs(out_img.astype(np.int16) - ref.astype(np.int16))
    report["same_frame"] = {
        "t": stage.current_time(),
        "output_size": [out_img.shape[1], out_img.shape[0]],
        "preview_size": [prev_img.shape[1], prev_img.shape[0]],
        "output_vs_engine_mean_abs": None if diff is None else round(float(diff.mean()), 3),
        "output_vs_engine_max_abs": None if diff is None else int(diff.max()),
        "output_mean_rgb": [round(float(v), 1) for v in out_img.reshape(-1, 3).mean(0)],
        "preview_mean_rgb": [round(float(v), 1) for v in prev_img.reshape(-1, 3).mean(0)],
        "histogram_overlap": round(float(np.minimum(_hist(out_img), _hist(prev_img)).sum()),
                                   3),
        "output_stats": stats(out_img), "preview_stats": stats(prev_img)}


def _unplug(report, qapp, display: str, o) -> None:
    """5. The projector unplugged: the output moves to the remaining screen, still
    fullscreen and drawing; plugged back, it returns to the screen it was set to."""
    from tests.app.screenshots import spin, wait_until

    removed = []
    qapp.screenRemoved.connect(lambda s: removed.append(s.name()))
    delete_monitor(display, SCREEN_B[0])
    wait_until(lambda: removed and o.screen() is not None and o.screen().name() == SCREEN_A[0]
               and o.geometry() == o.screen().geometry(), 10)
    spin(300)
    shown = o.view.shown
    spin(1000)
    from PySide6.QtGui import QGuiApplication

    report["unplugged"] = {"removed": removed, "screen": o.screen().name(),
                           "geometry": _rect(o.geometry()),
                           "x_geometry": x_window_rect(display, int(o.winId())),
                           "fullscreen": o.isFullScreen(), "visible": o.isVisible(),
                           "frames_after": o.view.shown - shown,
                           "screens": [s.name() for s in QGuiApplication.screens()]}
    set_monitors(display, [SCREEN_B], give_output_to=-1)
    wait_until(lambda: o.screen() is not None and o.screen().name() == SCREEN_B[0]
               and o.geometry() == o.screen().geometry(), 10)
    spin(300)
    report["replugged"] = {"screen": o.screen().name(), "geometry": _rect(o.geometry()),
                           "fullscreen": o.isFullScreen(), "visible": o.isVisible()}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "out" / "screenshots"),
                  sys.argv[2] if len(sys.argv) > 2 else "torch"))
