"""The stage: load a track (analysis off the GUI thread), play / pause / seek on the
player's clock, reactivity that takes effect at once, bad tracks as messages."""

from __future__ import annotations

import os

import numpy as np
import pytest


def _load(window, qtbot, path):
    with qtbot.waitSignal(window.stage.trackLoaded, timeout=60_000):
        window.stage.load_track(str(path))


def test_load_track_shows_beats_and_drives_the_preview(window, qtbot, track, dialogs):
    stage = window.stage
    _load(window, qtbot, track)
    f = stage.features
    assert f.duration > 2.5 and len(f.beat_times) >= 3
    assert "BPM" in stage.track_label.text()
    assert stage.timeline.duration > 2.5
    assert stage.param_track is not None
    # Different times give different frames' parameters (the track drives the picture).
    a, b = stage.params_at(0.1), stage.params_at(1.6)
    assert not np.allclose(a.extras, b.extras)
    # Reactivity panel describes the track and suggests styles; one click switches.
    panel = window.reactivity_panel
    assert "BPM" in panel.track_info.text()
    qtbot.waitUntil(lambda: panel.suggestions.count() > 0, timeout=10_000)
    item = panel.suggestions.item(panel.suggestions.count() - 1)
    panel.suggestions.itemClicked.emit(item)
    chosen = item.data(0x0100)
    assert window.library_panel.current_id() == chosen
    assert window.stage.shown_style.id == chosen
    assert dialogs.errors == []


def test_play_pause_seek(window, qtbot, track):
    stage = window.stage
    _load(window, qtbot, track)
    stage.seek(1.0)
    assert abs(stage.current_time() - 1.0) < 0.05
    stage.play()
    assert stage.playing
    qtbot.wait(400)
    assert stage.current_time() > 1.05
    stage.toggle_play()
    assert not stage.playing
    t = stage.current_time()
    qtbot.wait(200)
    assert stage.current_time() == t
    # Frames were drawn while playing, and the path in use is shown.
    assert stage.raster.image is not None
    assert stage.path_label.text().startswith("torch")


def test_status_line_says_when_the_preview_draws_bf16(live_bf16, window, qtbot, track):
    from engine.render.bf16 import bf16_hardware

    if not bf16_hardware() or os.environ.get("SONOLUME_PRECISION") == "fp32":
        pytest.skip("no bf16 matrix hardware here (or SONOLUME_PRECISION=fp32): the "
                    "preview stays fp32 and says nothing more")
    stage = window.stage
    _load(window, qtbot, track)
    stage.play()
    try:
        qtbot.waitUntil(lambda: stage.raster.shown_precision != "fp32", timeout=90_000)
        stage._update_labels()
        assert stage.path_label.text().startswith(f"torch {stage.raster.shown_precision} ·")
        assert "bf16" in stage.path_label.toolTip()
    finally:
        stage.pause()


def test_reactivity_sliders_take_effect_at_once(window, qtbot, track):
    stage, panel = window.stage, window.reactivity_panel
    _load(window, qtbot, track)
    zoom_before = stage.param_track.zoom.copy()
    assert np.ptp(zoom_before) > 0 or np.ptp(stage.param_track.extras) > 0
    panel.overall.slider.setValue(0)
    qtbot.waitUntil(lambda: np.allclose(stage.param_track.zoom, 1.0), timeout=2000)
    assert np.allclose(stage.param_track.extras, 0.0)
    panel.reset_amounts()
    assert np.allclose(stage.param_track.zoom, zoom_before)
    # Switching the preset rebuilds the parameters too.
    names = [panel.preset.itemText(i) for i in range(panel.preset.count())]
    assert len(names) >= 3
    other = next(n for n in names if n != panel.preset.currentText())
    panel.preset.setCurrentText(other)
    assert stage.preset.name == other


def test_bad_track_shows_an_error(window, qtbot, dialogs, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    worker = window.stage.load_track(str(bad))
    qtbot.waitUntil(lambda: worker.is_done, timeout=30_000)
    assert dialogs.errors, "a bad track must produce a message"
    title, message = dialogs.errors[0]
    assert "broken.wav" in message
    assert window.stage.features is None
    assert "could not load" in window.stage.track_label.text()


def test_fullscreen_toggle(window, qtbot):
    window.toggle_fullscreen()
    assert window.library_dock.isHidden() and window.menuBar().isHidden()
    window.leave_fullscreen()
    assert not window.menuBar().isHidden()


def test_settings_persist_in_the_test_file_only(window, app_env):
    from app.settings import AppSettings

    window.settings.clip_model = "ViT-B-32"
    window.close()
    again = AppSettings()
    assert again.path == app_env / "settings.ini"
    assert again.clip_model == "ViT-B-32"
    assert again.window_bytes("geometry") is not None
