"""The output window (issue 12 §3): a second window that shows the preview's frames
fullscreen on a chosen screen.

The first tests run in this process on Qt's offscreen platform (one screen). The last one
runs the real app on a virtual X server with two monitors (``tests/app/stage/output_run.py`` in a
subprocess, ``QT_QPA_PLATFORM=xcb``): the output on the second screen, fullscreen with that
screen's geometry, drawing the preview's frames, F11 / Esc, the screen unplugged and
plugged back, and screenshots in ``out/screenshots/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

ROOT = Path(__file__).resolve().parents[3]


# -- pieces without a window -----------------------------------------------------------------
class FakeScreen:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name


def test_pick_screen_by_name_else_the_last_other_screen():
    from app.stage.output import pick_screen

    laptop, projector, tv = FakeScreen("eDP-1"), FakeScreen("HDMI-1"), FakeScreen("DP-2")
    screens = [laptop, projector, tv]
    assert pick_screen(screens, "HDMI-1", avoid=laptop) is projector
    # The remembered screen is gone (or none was chosen): the last one that is not the
    # main window's; with the main window's screen alone, that one.
    assert pick_screen(screens, "VGA-9", avoid=laptop) is tv
    assert pick_screen(screens, "", avoid=tv) is projector
    assert pick_screen([laptop], "HDMI-1", avoid=laptop) is laptop
    assert pick_screen([], "HDMI-1") is None


def test_resolution_names():
    from app.settings import OUTPUT_RESOLUTIONS
    from app.stage.output import resolution_height

    assert [resolution_height(r) for r in OUTPUT_RESOLUTIONS] == [None, 360, 540, 720, 1080,
                                                                   None]


def test_settings_remember_screen_resolution_and_open(tmp_path, qapp):
    from app.settings import AppSettings

    s = AppSettings(tmp_path / "s.ini")
    assert (s.output_screen, s.output_resolution, s.output_open) == ("", "adaptive", False)
    s.output_screen, s.output_resolution, s.output_open = "HDMI-1", "720p", True
    s.sync()
    again = AppSettings(tmp_path / "s.ini")
    assert (again.output_screen, again.output_resolution, again.output_open) == \
        ("HDMI-1", "720p", True)
    with pytest.raises(ValueError, match="unknown output resolution '4k'.*adaptive"):
        s.output_resolution = "4k"
    s.set("output/resolution", "garbage")  # a hand-edited file falls back, it never breaks
    assert s.output_resolution == "adaptive"


def test_frame_key_changes_with_what_is_drawn():
    from app.stage.output import frame_key
    from engine.reactive import FrameParams
    from engine.scene.scene import Frame, Layer

    cppn = object()
    a = Frame(1.0, (Layer("s", cppn, FrameParams.neutral(2)),))
    same = Frame(1.0, (Layer("s", cppn, FrameParams.neutral(2)),))
    hue = Frame(1.0, (Layer("s", cppn, FrameParams(np.zeros(2, np.float32), hue=0.3)),))
    extra = Frame(1.0, (Layer("s", cppn, FrameParams(np.ones(2, np.float32))),))
    other = Frame(1.0, (Layer("s", object(), FrameParams.neutral(2)),))
    assert frame_key(a) == frame_key(same)
    assert len({frame_key(f) for f in (a, hue, extra, other)}) == 4


# -- the window in this process (offscreen: one screen) --------------------------------------
def _frames(qtbot, out, n: int, timeout: int = 60_000) -> None:
    start = out.view.shown
    qtbot.waitUntil(lambda: out.view.shown >= start + n, timeout=timeout)


def test_output_window_follows_the_stage(window, qtbot):
    stage, control = window.stage, window.output
    assert stage.scene is not None, "the test library selects a style at start"
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert control.action in view_menu.actions() and control.action in window.actions()
    assert control.action.shortcut().toString() == "Ctrl+Shift+F"

    control.action.trigger()  # View → Output window
    out = control.window
    assert control.is_open and out.isVisible() and out.isFullScreen()
    assert out.geometry() == out.screen().geometry()
    assert out.windowFlags() & Qt.WindowType.FramelessWindowHint
    assert out.cursor().shape() == Qt.CursorShape.BlankCursor
    assert stage.raster.scale.max_pixels <= 384 * 216  # the preview yields the CPU
    assert control.status_label.isVisibleTo(window)

    stage.play()
    _frames(qtbot, out, 3)
    img = out.view.image
    assert img is not None and img.width() > 32
    qtbot.waitUntil(lambda: " fps · " in control.status_label.text(), timeout=5_000)
    assert f"{out.screen().name()} · torch adaptive" in control.status_label.text()

    # Paused: the output holds the preview's instant; a seek redraws it there.
    stage.pause()
    stage.seek(1.25)
    qtbot.waitUntil(lambda: out._still is not None and out._still[0] == pytest.approx(1.25),
                    timeout=10_000)
    qtbot.waitUntil(lambda: "paused" in control.status_label.text(), timeout=5_000)
    # A control acts on the output's next frame, paused too: another style is drawn there.
    before = out._still
    shown = out.view.shown
    ids = window.library_panel.visible_ids()
    window.select_style(ids[2])
    qtbot.waitUntil(lambda: out._still is not None and out._still != before
                    and out.view.shown > shown, timeout=30_000)
    assert out._still[3][0][1] == id(stage.frame_at(stage.current_time()).cppn)
    assert out._still[3][0][1] != before[3][0][1]

    # Keys: Esc leaves fullscreen and nothing else, again is harmless; F11 toggles.
    qtbot.keyClick(out, Qt.Key.Key_Escape)
    assert out.isVisible() and not out.isFullScreen()
    assert not out.windowFlags() & Qt.WindowType.FramelessWindowHint
    qtbot.keyClick(out, Qt.Key.Key_Escape)
    assert out.isVisible() and control.is_open
    qtbot.keyClick(out, Qt.Key.Key_F11)
    assert out.isFullScreen() and out.geometry() == out.screen().geometry()
    qtbot.keyClick(out, Qt.Key.Key_F11)
    assert out.isVisible() and not out.isFullScreen()
    qtbot.keyClick(out, Qt.Key.Key_Space)  # play / pause from the output too
    assert stage.playing
    stage.pause()

    # A fixed internal resolution: 360p is drawn 360 rows high (the window is taller).
    control.choose_resolution("360p")
    assert window.settings.output_resolution == "360p"
    qtbot.keyClick(out, Qt.Key.Key_F11)
    stage.play()
    qtbot.waitUntil(lambda: out.view.shown_size[1] == 360, timeout=60_000)
    w, h = out.view.shown_size
    sw, sh = out.width(), out.height()
    assert abs(w / h - sw / sh) < 0.02
    stage.pause()

    # Closing it returns to the normal preview; the menu item follows.
    out.close()
    assert not control.is_open and not control.action.isChecked()
    assert stage.raster.scale.max_pixels > 384 * 216
    assert not control.status_label.isVisibleTo(window)
    shown = out.view.shown
    stage.play()
    qtbot.wait(500)
    stage.pause()
    assert out.view.shown == shown  # a closed output draws nothing
    control.action.trigger()
    assert control.is_open and out.isFullScreen()  # the same window, back again
    control.action.trigger()
    assert not control.is_open


def test_open_state_is_remembered_at_quit(window, qtbot, app_env):
    from app.settings import AppSettings

    control = window.output
    control.open()
    assert window.settings.output_screen == ""  # opened, not chosen: nothing to remember
    window.close()
    assert AppSettings().output_open is True
    assert not control.window.isVisible()  # closed with the main window


def test_reopens_at_start_only_on_its_own_screen(window, qtbot):
    """A laptop alone is never covered by a fullscreen output at start-up: the output
    reopens only on the screen it was on, and only when that is not the main window's."""
    control, settings = window.output, window.settings
    settings.output_open = True
    settings.output_screen = "HDMI-gone"
    assert control.restore() is False and not control.is_open
    settings.output_screen = window.screen().name()  # offscreen Qt: the only screen
    assert control.restore() is False and not control.is_open
    control.choose_screen(window.screen().name())  # the user asks for it: it opens there
    assert control.is_open and control.window.screen() is window.screen()
    assert settings.output_screen == window.screen().name()
    control.close()


# -- the real app on two screens (Xvfb, one X screen split into two RandR monitors) ----------
@pytest.fixture(scope="module")
def two_screens():
    from tests.app.stage.output_run import SCREEN_A, SCREEN_B, X_SIZE, monitors, set_monitors

    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb xauth): no virtual screens "
                    "to put an output window on")
    r, w = os.pipe()
    # -noreset: Xvfb would forget the monitors when the client that set them disconnects.
    proc = subprocess.Popen([exe, "-displayfd", str(w), "-noreset", "-screen", "0",
                             f"{X_SIZE[0]}x{X_SIZE[1]}x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as fh:
        display = fh.readline().strip()
    try:
        if not display:
            pytest.skip("Xvfb did not start")
        display = f":{display}"
        try:
            set_monitors(display, [SCREEN_A, SCREEN_B])
            names = [m[0] for m in monitors(display)]
        except OSError as exc:  # no libXrandr, or a server without RandR 1.5 monitors
            pytest.skip(f"cannot split the virtual X screen into two monitors: {exc}")
        assert names == [SCREEN_A[0], SCREEN_B[0]], names
        yield display
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _run_on_two_screens(display: str, tmp_path: Path, path: str) -> tuple[dict, Path]:
    out = Path(os.environ.get("SONOLUME_SCREENSHOT_DIR", ROOT / "out" / "screenshots"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONOLUME_")}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", SONOLUME_PREVIEW=path,
               SONOLUME_LIBRARY=str(tmp_path / "library"),
               SONOLUME_SETTINGS=str(tmp_path / "settings.ini"),
               SONOLUME_LOG=str(tmp_path / "sonolume.log"),
               SONOLUME_CACHE_DIR=str(tmp_path / "cache"), SONOLUME_RUNS=str(tmp_path / "runs"),
               HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "tests.app.stage.output_run",
                           str(out), path], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=140)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert "Traceback" not in proc.stderr, tail  # a slot that raised (Qt only prints it)
    prefix = "output-gl-" if path == "gl" else "output-"
    rep = json.loads((out / f"{prefix}report.json").read_text())
    assert rep["errors"] == [], rep["errors"]
    return rep, out


def test_output_on_the_second_screen(two_screens, tmp_path):
    from tests.app.stage.output_run import SCREEN_A, SCREEN_B

    rep, out = _run_on_two_screens(two_screens, tmp_path, "torch")
    a, b = list(SCREEN_A[1:]), list(SCREEN_B[1:])
    assert rep["screens"] == {SCREEN_A[0]: a, SCREEN_B[0]: b}
    assert rep["main_screen"] == SCREEN_A[0]

    # Fullscreen, borderless, exactly on screen 2, for Qt and for the X server alike.
    o = rep["output"]
    assert o["screen"] == SCREEN_B[0] and o["remembered"] == SCREEN_B[0]
    assert o["fullscreen"] and o["frameless"]
    assert o["geometry"] == b and o["x_geometry"] == b and o["screen_geometry"] == b
    assert o["path"] == "torch" and o["frames_playing"] >= 5 and o["fps_playing"] > 0
    assert SCREEN_B[0] in o["status"] and "frames" in o["status"]

    # The same frame as the preview: pixel for pixel the engine's drawing of the stage's
    # frame at the paused instant, in the preview's colours, and not blank on screen.
    same = rep["same_frame"]
    assert same["t"] == pytest.approx(3.0)
    assert same["output_vs_engine_max_abs"] <= 2, same
    assert same["histogram_overlap"] > 0.8, same
    assert max(abs(x - y) for x, y in zip(same["output_mean_rgb"], same["preview_mean_rgb"],
                                          strict=True)) < 12, same
    for key in ("output_stats", "window_stats"):
        st = same[key]
        assert st["std"] > 8 and st["distinct"] > 50 and 5 < st["mean"] < 250, (key, st)
    assert same["window_stats"]["size"] == b[2:]
    for name in ("output-window.png", "output-main-window.png", "output-two-screens.png"):
        assert (out / name).stat().st_size > 10_000, name

    # A slow output (a 540p CPPN frame asked per tick, about a second each on a CPU)
    # neither stops the stage's clock nor holds the event loop: frames are dropped instead.
    slow = rep["slow_render"]
    assert slow["stage_ticks_3s"] >= 30, slow
    assert slow["loop_gap_ms_p99"] < 400, slow
    assert slow["frames_shown"] < slow["frames_asked"], slow

    # F11 toggles; Esc leaves fullscreen and, pressed again, changes nothing; never closes.
    keys = rep["keys"]
    assert [k["fullscreen"] for k in keys] == [False, True, False, False, True]
    assert all(k["visible"] and k["screen"] == SCREEN_B[0] for k in keys)
    for k in keys:
        x, y, w, h = k["geometry"]
        assert b[0] <= x and x + w <= b[0] + b[2] and b[1] <= y and y + h <= b[1] + b[3], k
        assert (k["geometry"] == b) == k["fullscreen"]

    # Screen 2 unplugged: on screen 1, fullscreen, still drawing; back on screen 2 when it
    # returns (it is the one chosen).
    un = rep["unplugged"]
    assert un["removed"] == [SCREEN_B[0]] and un["screens"] == [SCREEN_A[0]]
    assert un["screen"] == SCREEN_A[0] and un["geometry"] == a and un["x_geometry"] == a
    assert un["fullscreen"] and un["visible"] and un["frames_after"] > 0
    back = rep["replugged"]
    assert back["screen"] == SCREEN_B[0] and back["geometry"] == b and back["fullscreen"]

    assert rep["frames_after_keys"] > 0
    # Closed: the menu item follows, the preview has its full size back and plays on.
    closed = rep["closed"]
    assert not closed["open"] and not closed["action_checked"]
    assert closed["preview_pixels_cap"] > 384 * 216
    assert closed["preview_playing"] and closed["preview_frames_1s"] > 0


def test_output_follows_a_gl_preview(two_screens, tmp_path):
    """With the preview on the GL shader (a GPU's path) the output draws with GL too; a
    borderless switch re-creates the native window around the GL widget, which must keep
    drawing. Short: Mesa's software GL draws a frame on the GUI thread, slowly."""
    from tests.app.stage.output_run import SCREEN_B

    rep, out = _run_on_two_screens(two_screens, tmp_path, "gl")
    if rep["preview_path"] != "gl":
        pytest.skip("no OpenGL 3.3 on this virtual X server: the preview runs torch")
    b = list(SCREEN_B[1:])
    o = rep["output"]
    assert o["path"] == "gl" and rep["path_after_keys"] == "gl"
    assert o["geometry"] == b and o["x_geometry"] == b and o["fullscreen"] and o["frameless"]
    assert o["frames_playing"] >= 2 and " GL " in o["status"]
    same = rep["same_frame"]
    assert same["output_size"] == b[2:]  # the GL widget's pixels, as shown
    assert same["histogram_overlap"] > 0.8, same
    st = same["output_stats"]
    assert st["std"] > 8 and st["distinct"] > 50 and 5 < st["mean"] < 250, st
    assert [k["fullscreen"] for k in rep["keys"]] == [False, False, True]
    assert all(k["visible"] for k in rep["keys"])
    assert rep["frames_after_keys"] > 0
    assert not rep["closed"]["open"] and rep["closed"]["preview_playing"]
    assert (out / "output-gl-two-screens.png").stat().st_size > 10_000
