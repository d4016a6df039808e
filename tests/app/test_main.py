"""The window as a whole: run_app, shortcuts, dropping a track, errors reaching the log."""

from __future__ import annotations

import sys

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication


def test_run_app_opens_the_window(app_env, dialogs, qapp, qtbot, monkeypatch):
    from app.main import MainWindow, run_app

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # run_app installs its own
    seen = {}

    def fake_exec():
        # The real exec() + quit() would leave Qt's "quit now" flag set for the rest of
        # this test session (every later nested event loop would return at once).
        qtbot.wait(1000)
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        seen["windows"] = wins
        seen["style"] = wins[-1].stage.shown_style.name if wins else None
        return 0

    monkeypatch.setattr(qapp, "exec", fake_exec)
    assert run_app(["--style", "Seeded pattern 03 - Violet nebula"]) == 0
    for w in seen["windows"]:
        w.close()
    assert seen["style"] == "Seeded pattern 03 - Violet nebula"
    assert dialogs.errors == []


def test_shortcuts(window):
    shortcuts = {a.shortcut().toString() for a in window.actions()}
    assert {"Space", "F11", "Ctrl+E", "Ctrl+F", "Ctrl+O"} <= shortcuts
    window.play_action.trigger()
    assert window.stage.playing
    window.play_action.trigger()
    assert not window.stage.playing


def test_drop_a_track_on_the_preview(window, qtbot, track, dialogs):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(track))])
    ev = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                    Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.stage.trackLoaded, timeout=60_000):
        window.stage.dropEvent(ev)
    assert window.stage.track_path == str(track)


def test_worker_errors_reach_the_log(window, qtbot, dialogs, app_env):
    bad = app_env / "not-audio.mp3"
    bad.write_text("hello, I am text")
    worker = window.stage.load_track(str(bad))
    qtbot.waitUntil(lambda: worker.is_done, timeout=30_000)
    assert dialogs.errors and "not-audio.mp3" in dialogs.errors[0][1]
    log = (app_env / "sonolume.log").read_text()
    assert "not-audio.mp3" in log


def test_research_menu_opens_each_tool_once(window, qtbot):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Research")
    titles = [a.text() for a in menu.actions()]
    assert any("NeRV-CLIP" in t for t in titles) and any("Spatial" in t for t in titles)
    for action in menu.actions():
        action.trigger()
    assert set(window.research) == {"nerv", "spatial"}
    for kind, win in window.research.items():
        assert win.isVisible() and win.panel is not None, kind
        assert window.open_research(kind) is win  # built once, shown again
    nerv = window.research["nerv"]
    nerv.close()
    assert window.open_research("nerv").isVisible()


def test_a_trained_style_reaches_the_spatial_inspector(window, qtbot):
    spatial = window.open_research("spatial").panel
    before = spatial.sources.style_combo.count()
    style = window.library.duplicate(window.library.list()[0].id, "Copy for the inspector")
    window._style_trained(style)
    assert spatial.sources.style_combo.count() == before + 1
