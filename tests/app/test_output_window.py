"""The output window (issue 12 §3): a second window that shows the preview's frames
fullscreen on a chosen screen.

The first tests run in this process on Qt's offscreen platform (one screen). The last one
runs the real app on a virtual X server with two monitors (``tests/app/output_run.py`` in a
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

ROOT = Path(__file__).resolve().parents[2]


# -- pieces without a window -----------------------------------------------------------------
class FakeScreen:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name


def test_pick_screen_by_name_else_the_last_other_screen():
    from app.output_window import pick_screen

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
    from app.output_window import resolution_height
    from app.settings import OUTPUT_RESOLUTIONS

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
    from app.output_window import frame_key
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
    assert f"{out.screen().name()} · adaptive" in control.status_label.text()

    # Paused: the output holds the preview's instant; a seek redraws it there.
    stage.pause()
    stage.seek(1.25)
    qtbot.waitUntil(lambda: out._still is not None and out._still[0] == pytest.approx(1.25),
                    timeout=10_000)
    qtbot.waitUntil(lambda: "paused" in control.status_label.text(), timeout=5_000)

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

    window.output.open()
    window.close()
    assert AppSettings().output_open is True
