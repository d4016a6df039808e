"""GUI test fixtures: a main window over a temporary library, settings, log and caches.

Nothing here touches the user's own settings or library: ``SONOLUME_SETTINGS`` points at
an INI file in the test's temp folder, Qt's own settings path is redirected there too, and
every modal dialog goes through :mod:`app.dialogs`, which these fixtures replace with
recorders so no test can block on a message box.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6.QtWidgets", reason="PySide6 is not installed")


class DialogRecorder:
    """Stands in for app.dialogs: records every question, answers from queues."""

    def __init__(self):
        self.errors: list[tuple[str, str]] = []
        self.infos: list[tuple[str, str]] = []
        self.clip_messages: list[str] = []
        self.opened_folders: list[str] = []
        self.answers: dict[str, list] = {}

    def answer(self, kind: str, *values) -> None:
        self.answers.setdefault(kind, []).extend(values)

    def _next(self, kind: str, default=None):
        queue = self.answers.get(kind)
        return queue.pop(0) if queue else default

    # the app.dialogs API ----------------------------------------------------------------
    def error(self, parent, title, message, details=""):
        self.errors.append((title, message))

    def info(self, parent, title, message):
        self.infos.append((title, message))

    def confirm(self, parent, title, message):
        return self._next("confirm", False)

    def ask_text(self, parent, title, label, text=""):
        return self._next("ask_text", None)

    def open_file(self, parent, title, folder, filters):
        return self._next("open_file", None)

    def save_file(self, parent, title, path, filters):
        return self._next("save_file", None)

    def choose_folder(self, parent, title, folder):
        return self._next("choose_folder", None)

    def clip_unavailable(self, parent, message):
        self.clip_messages.append(message)
        return self._next("clip_unavailable", "close")

    def open_folder(self, path):
        self.opened_folders.append(str(path))
        return True


@pytest.fixture
def dialogs(monkeypatch):
    import app.dialogs as real

    rec = DialogRecorder()
    for name in ("error", "info", "confirm", "ask_text", "open_file", "save_file",
                 "choose_folder", "clip_unavailable", "open_folder"):
        monkeypatch.setattr(real, name, getattr(rec, name))
    return rec


@pytest.fixture
def app_env(tmp_path, monkeypatch, qapp):
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("SONOLUME_LIBRARY", str(tmp_path / "library"))
    monkeypatch.setenv("SONOLUME_SETTINGS", str(tmp_path / "settings.ini"))
    monkeypatch.setenv("SONOLUME_LOG", str(tmp_path / "sonolume.log"))
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SONOLUME_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SONOLUME_PREVIEW", "torch")  # offscreen Qt has no GL context
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Belt and braces: anything that asks Qt for the default store lands in tmp too.
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "qsettings"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "qsettings"))
    qapp.setOrganizationName("SonolumeTest")
    qapp.setApplicationName("SonolumeTest")
    # The live views' fp32/bf16 check (engine.render.live_precision) builds a C kernel and
    # times probe frames in a background thread. A GUI test is about the GUI, so its views
    # draw fp32 unless the test asks for the check (the ``live_bf16`` fixture); the check
    # itself is tested in tests/engine/render and tests/app/stage/test_preview_precision.
    import engine.render.live_precision as live_precision

    monkeypatch.setattr(live_precision, "_shared",
                        live_precision.LivePrecision(hardware=lambda: None))
    return tmp_path


@pytest.fixture
def live_bf16(app_env, monkeypatch):
    """The process's real fp32/bf16 check for the live views of this test (request it
    before ``window``)."""
    import engine.render.live_precision as live_precision

    live = live_precision.LivePrecision()
    monkeypatch.setattr(live_precision, "_shared", live)
    yield live
    live.close(wait=10.0)


@pytest.fixture
def window(qtbot, app_env, dialogs):
    from app.main import MainWindow
    from app.settings import AppSettings

    w = MainWindow(AppSettings())
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    # A test may leave a show with unsaved edits: quitting asks, and a refused close would
    # leave the stage's threads running while qtbot deletes the window.
    dialogs.answers["confirm"] = [True]
    w.close()
    assert not w.isVisible(), "the window refused to close"


def write_track(path: Path, seconds: float = 3.0, bpm: float = 120.0, sr: int = 22050,
                seed: int = 0) -> Path:
    """A synthetic track with a known beat: clicks on every beat over a soft chord."""
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    y = 0.12 * (np.sin(2 * math.pi * 220 * t) + np.sin(2 * math.pi * 277.2 * t)
                + np.sin(2 * math.pi * 329.6 * t)) / 3
    period = 60.0 / bpm
    for k in range(int(seconds / period) + 1):
        i = int(k * period * sr)
        n = min(int(0.03 * sr), len(y) - i)
        if n > 0:
            env = np.exp(-np.arange(n) / (0.006 * sr))
            y[i : i + n] += 0.8 * env * rng.standard_normal(n)
    sf.write(str(path), np.clip(y, -1, 1).astype(np.float32), sr)
    return path


@pytest.fixture(scope="session")
def track(tmp_path_factory) -> Path:
    return write_track(tmp_path_factory.mktemp("audio") / "beat-120.wav")


def pytest_collection_modifyitems(items):
    """A GUI test that hangs must fail with every thread's stack, not eat CI's time."""
    for item in items:
        if "tests/app/" in str(item.fspath).replace("\\", "/") and \
                item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(150, method="thread"))
