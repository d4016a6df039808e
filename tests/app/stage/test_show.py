"""Shows in the app: auto-arrange over the track's sections, edit on the timeline (split,
drop a style, transition), undo/redo, save and reopen, the preview and the export play the
show (issue 11)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.app.conftest import write_track


@pytest.fixture(scope="module")
def long_track(tmp_path_factory):
    return write_track(tmp_path_factory.mktemp("show") / "beat-16s.wav", seconds=16.0)


def _ready(window, qtbot, track):
    with qtbot.waitSignal(window.stage.trackReady, timeout=90_000):
        window.stage.load_track(str(track))


def _arranged(window, qtbot):
    worker = window.show_panel.auto_arrange()
    assert worker is not None
    qtbot.waitUntil(lambda: worker.is_done, timeout=60_000)
    assert window.show_editor.active


def test_arrange_edit_undo_save_reopen_export(window, qtbot, long_track, dialogs, tmp_path):
    stage, editor, strip = window.stage, window.show_editor, window.show_panel.timeline
    _ready(window, qtbot, long_track)
    assert stage.structure is not None and len(stage.structure.downbeats) >= 4
    _arranged(window, qtbot)
    n0 = len(stage.scene.segments)
    # Split in the middle: the new boundary is on a downbeat.
    assert editor.split(8.0)
    assert len(stage.scene.segments) == n0 + 1
    b = stage.scene.segments[-1].start if n0 == 1 else None
    if b is not None:
        assert min(abs(b - d) for d in stage.structure.downbeats) < 1e-6
    # Drop another library style onto the last segment, crossfade into it.
    ids = [s.id for s in window.library.list()]
    last = stage.scene.segments[-1]
    other = next(i for i in ids if i != last.style)
    assert strip.drop_style(other, strip.x_of(15.0))
    assert stage.scene.segments[-1].style == other
    boundary = len(stage.scene.segments) - 1
    menu = strip.transition_menu(boundary)
    xf = next(a for a in menu.actions() if a.text() == "crossfade").menu()
    next(a for a in xf.actions() if a.text() == "2 beats").trigger()
    win = [w for w in stage.scene.windows() if w.index == boundary]
    assert win and win[0].transition.kind == "crossfade"
    mid = (win[0].start + win[0].end) / 2
    frame = stage.frame_at(mid)
    assert frame.mode == "crossfade" and len(frame.layers) == 2 and 0 < frame.mix < 1
    assert "*" in window.windowTitle()
    # The preview draws the transition frame (two styles through the engine's drawer).
    shown = []
    stage.raster.frameShown.connect(lambda: shown.append(1))
    stage.seek(mid)
    qtbot.waitUntil(lambda: len(shown) > 0, timeout=20_000)
    # Undo all three edits, redo them.
    for _ in range(3):
        editor.undo.undo()
    assert len(stage.scene.segments) == n0
    for _ in range(3):
        editor.undo.redo()
    assert stage.scene.segments[-1].style == other
    # Save, reopen: the same arrangement.
    out = tmp_path / "my-show.json"
    dialogs.answer("save_file", str(out))
    assert window.save_show(ask=True) == out
    assert "*" not in window.windowTitle()
    data = json.loads(out.read_text())
    assert data["format"] == "sonolume-show" and len(data["segments"]) == n0 + 1
    before = [(s.style, round(s.start, 3)) for s in stage.scene.segments]
    editor.close_show()
    assert not editor.active and len(stage.scene.segments) == 1
    assert editor.open(out)
    qtbot.waitUntil(lambda: editor.active, timeout=30_000)
    assert [(s.style, round(s.start, 3)) for s in stage.scene.segments] == before
    assert stage.scene.transitions[-1].text == "crossfade:2"
    # The export renders the show, not the library's selection.
    window.open_export()
    dlg = window.export_dialog
    assert len(dlg.scene.segments) == n0 + 1 and "show" in dlg.target.text()
    dlg.size.setCurrentIndex(dlg.size.count() - 1)
    dlg.width_box.setValue(64)
    dlg.height_box.setValue(36)
    dlg.fps.setCurrentIndex(dlg.fps.findData(24))
    dlg.part.setChecked(True)
    dlg.start.setValue(max(0.0, win[0].start - 0.3))
    dlg.length.setValue(1.0)
    video = tmp_path / "show.mp4"
    dlg.target.setText(str(video))
    worker = dlg.start_export()
    qtbot.waitUntil(lambda: worker.is_done, timeout=120_000)
    assert dialogs.errors == [] and video.is_file()
    dlg.close()


def test_library_click_in_a_show_keeps_the_show(window, qtbot, long_track, dialogs):
    stage, editor = window.stage, window.show_editor
    _ready(window, qtbot, long_track)
    _arranged(window, qtbot)
    segments = stage.scene.segments
    ids = window.library_panel.visible_ids()
    window.select_style(ids[-1])
    assert stage.scene.segments == segments  # the click selects, the show plays on
    # Right-click menu: use the selected style in a segment.
    menu = window.show_panel.timeline.segment_menu(window.show_panel.timeline.x_of(1.0))
    use = next(a for a in menu.actions() if a.text().startswith("Use"))
    use.trigger()
    assert stage.scene.segments[0].style == ids[-1]
    editor.undo.setClean()  # nothing to ask about at close
    editor.close_show()
    assert stage.scene.segments[0].style == ids[-1]  # back to the selection


def test_bad_show_file_is_one_message(window, dialogs, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "sonolume-show", "version": 1, "track": 3}')
    assert not window.show_editor.open(bad)
    assert dialogs.errors and "bad.json" in dialogs.errors[0][1]


def test_live_input_locks_the_show_against_edits(window, qtbot, long_track, dialogs):
    """Live, the scene is the set's own: an edit or an undo there would change frames the
    set has already drawn (and recorded), so the editor refuses until live stops."""
    from tests.app.live.test_live_stage import FedInput

    stage, editor, strip = window.stage, window.show_editor, window.show_panel.timeline
    _ready(window, qtbot, long_track)
    _arranged(window, qtbot)
    assert editor.split(8.0)
    undo = next(a for a in window.menuBar().actions() if a.text() == "&Edit").menu().actions()[0]
    assert undo.isEnabled()
    messages = []
    editor.statusMessage.connect(messages.append)
    fed = FedInput()
    assert stage.start_live(fed)
    try:
        assert not editor.editable and not undo.isEnabled()
        assert not window.show_panel.undo_button.isEnabled()
        assert not window.show_panel.arrange.isEnabled()
        live_segments = list(stage.scene.segments)
        assert not editor.split(4.0)
        assert not editor.merge(0)
        assert not strip.drop_style(window.library.list()[0].id, strip.x_of(1.0))
        assert window.show_panel.auto_arrange() is None
        assert list(stage.scene.segments) == live_segments
        assert messages and "while live input plays it" in messages[-1]
    finally:
        stage.stop_live()
    assert editor.editable and undo.isEnabled()
    assert window.show_panel.undo_button.isEnabled()
    n = len(stage.scene.segments)
    undo.trigger()  # the split made before going live
    assert len(stage.scene.segments) == n - 1


def _recorded_set(window, path):
    """A set recorded with the engine's LiveSet on the demo track (two library styles, a
    style change mid-take): the file a Live dock's Record writes."""
    import soundfile as sf

    from engine.audio.live import LiveAnalyzer
    from engine.control.live_set import LiveSet
    from engine.scene import Scene

    demo = Path(__file__).resolve().parents[3] / "resources" / "audio" / "demo.ogg"
    y, sr = sf.read(str(demo), dtype="float32", always_2d=True)
    styles = window.library.list()[:2]
    live = LiveSet(Scene({s.id: s for s in styles}, preset="punchy", seed=3),
                   LiveAnalyzer(sr, y.shape[1]), fps=30)
    block, start = 1024, int(4.0 * sr)
    for i in range(0, start, block):
        live.push(y[i:i + block])
    show = live.start_recording(path)
    for i in range(start, int(7.0 * sr), block):
        live.push(y[i:i + block])
        if i == start + 40 * block:
            live.perform("style.next")
    assert live.stop_recording() == show
    return show


def test_a_recorded_set_is_replayed_off_the_gui_thread_before_it_opens(window, qtbot,
                                                                        tmp_path,
                                                                        monkeypatch):
    """Opening a recorded set replays its steps (the parameters it drew) in a worker, and
    the show keeps them: its first frames replay nothing on the GUI thread."""
    from engine.scene.live_steps import LiveSteps

    path = _recorded_set(window, tmp_path / "a set.json")
    threads = []
    real = LiveSteps.replay

    def replay(self, *a, **k):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(self, *a, **k)

    monkeypatch.setattr(LiveSteps, "replay", replay)
    editor, stage = window.show_editor, window.stage
    assert editor.open(path)
    qtbot.waitUntil(lambda: editor.active and stage.scene is not None
                    and stage.scene.live is not None, timeout=120_000)
    assert threads and not any(threads), threads  # replayed, and not on the GUI thread
    n = len(threads)
    for t in (0.0, 1.0, 2.5):
        stage.scene.frame_at(t)
    assert len(threads) == n  # the show kept the replayed tracks


def test_a_replay_that_ends_after_the_window_closed_opens_nothing(qtbot, app_env, dialogs,
                                                                   tmp_path, monkeypatch):
    """A replay still running when the window closes answers a deleted stage: it must be
    dropped (seen in CI: 'Internal C++ object (ShowTimeline) already deleted' raised in
    the event loop of the next test)."""
    import shiboken6

    from app.main import MainWindow
    from app.settings import AppSettings
    from engine.scene.live_steps import LiveSteps

    window = MainWindow(AppSettings())
    window.show()
    qtbot.waitExposed(window)
    path = _recorded_set(window, tmp_path / "late set.json")
    gate = threading.Event()
    real = LiveSteps.replay

    def replay(self, *a, **k):
        gate.wait(30)
        return real(self, *a, **k)

    monkeypatch.setattr(LiveSteps, "replay", replay)
    editor = window.show_editor
    assert editor.open(path)
    qtbot.waitUntil(lambda: editor._replay is not None, timeout=120_000)
    worker = editor._replay
    editor.stage.timer.stop()
    window.close()
    shiboken6.delete(window)  # the window, its stage and timeline are gone
    gate.set()
    qtbot.waitUntil(lambda: worker.is_done, timeout=60_000)
    qtbot.wait(100)  # the worker's answer delivered: it must raise nothing
    assert dialogs.errors == []
