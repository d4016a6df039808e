"""The spatial CLIP map inspector, standalone, with the tiny random CLIP: every source
(image, video frame, style still, NeRV-CLIP run), query heatmaps, a clicked patch, export,
errors and cancel. Every wait has a timeout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from tests.conftest import TINY_CLIP_CONFIG

ROOT = Path(__file__).resolve().parents[3]
BUNNY = ROOT / "tests" / "data" / "bunny-16f-64x128.mp4"
WAIT_MS = 60_000


def scene(w: int = 320, h: int = 200) -> np.ndarray:
    """A small picture with distinct regions: sky gradient, sun, sea with waves."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    sky = y < h * 0.55
    img[sky] = np.stack([90 + 100 * y / h, 140 + 60 * y / h, 230 - 40 * y / h], -1)[sky]
    sun = (x - w * 0.72) ** 2 + (y - h * 0.25) ** 2 < (h * 0.12) ** 2
    img[sun] = (255, 220, 90)
    sea = ~sky
    waves = 20 * np.sin(x / 7 + y / 3)
    img[sea] = np.stack([20 + waves, 70 + waves, 120 + waves], -1)[sea]
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def panel(qtbot, app_env, dialogs, monkeypatch):
    from app.clip_service import ClipService
    from app.settings import AppSettings
    from app.spatial.panel import SpatialPanel
    from engine.styles.library import Library

    monkeypatch.setenv("SONOLUME_CACHE", str(app_env / "engine-cache"))
    settings = AppSettings()
    settings.clip_config = str(TINY_CLIP_CONFIG)
    service = ClipService()
    p = SpatialPanel(settings, service, Library(app_env / "library"))
    qtbot.addWidget(p)
    p.resize(1100, 720)
    p.show()
    qtbot.waitExposed(p)
    yield p
    from shiboken6 import isValid

    from app.workers import Worker

    if isValid(p):
        p.shutdown()
    # Wait on the pool, not on the panel's slots: pytest-qt deletes a failed test's widgets
    # first, and a deleted panel never hears its worker finish.
    assert Worker.cancel_all(wait_ms=WAIT_MS)


def wait_map(qtbot, panel, dialogs):
    qtbot.waitUntil(lambda: (panel.map is not None and not panel.busy) or bool(dialogs.errors),
                    timeout=WAIT_MS)
    assert dialogs.errors == []


def click_patch(qtbot, panel, row: int, col: int) -> None:
    cx, cy = panel.grid.centres()[panel.grid.index(row, col)]
    qtbot.mouseClick(panel.view, Qt.MouseButton.LeftButton, pos=panel.view.widget_point(cx, cy))


def test_image_grid_queries_click_and_export(panel, qtbot, dialogs, tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(scene()).save(path)
    dialogs.answer("open_file", str(path))
    panel.sources.choose_image()
    wait_map(qtbot, panel, dialogs)
    grid = panel.grid
    assert (grid.width, grid.height) == (320, 200)
    assert (grid.patch, grid.stride) == (100, 50)  # the engine's scaled default
    assert panel.view.grid is grid and panel.view.image.shape == (200, 320, 3)
    assert f"{grid.rows} x {grid.cols}" in panel.coverage.text()
    assert "coverage 100.0%" in panel.coverage.text()
    # a random CLIP is never presented as a real one
    assert panel.random_clip and "RANDOM CLIP" in panel.clip_label.text()
    assert "random CLIP" in panel.view.warning
    assert panel.current_panel().key == "coherence"

    panel.query.setText("a bright sun; calm blue sea")
    panel.show_queries()
    qtbot.waitUntil(lambda: panel.text_emb is not None and not panel.busy, timeout=WAIT_MS)
    assert dialogs.errors == []
    assert [p.key for p in panel.panels] == ["query", "query", "coherence"]
    heat = panel.current_panel().values
    assert heat.shape == grid.shape
    assert np.ptp(heat) > 1e-4  # differs across patches
    assert panel.view.values is heat
    panel.relative.setChecked(True)  # share among the queries: sums to 1 over queries
    assert [p.key for p in panel.panels][:2] == ["relative", "relative"]
    assert np.allclose(panel.panels[0].values + panel.panels[1].values, 1.0, atol=1e-5)
    panel.relative.setChecked(False)
    assert panel.current_panel().values is not None and panel.current_panel().key == "query"
    shots = Path(os.environ.get("SONOLUME_SCREENSHOT_DIR", ROOT / "out" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shots / "spatial-panel.png"))

    click_patch(qtbot, panel, 1, 2)
    cur = panel.current_panel()
    assert cur.key == "click" and cur.highlight == (1, 2)
    assert cur.values[1, 2] == pytest.approx(1.0, abs=1e-5)
    assert np.nanmin(cur.values) < 0.999

    dialogs.answer("save_file", str(tmp_path / "exported"))
    out = panel.export_png()
    assert out == tmp_path / "exported.png"
    with Image.open(out) as im:
        im.load()
        assert im.format == "PNG" and im.width > 320
        assert "random CLIP" in im.text.get("Warning", "")
        assert "similarity to patch 1,2" in im.text["View"]
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")]  # no temp left

    (tmp_path / "file").write_text("x")
    assert panel.export_png(tmp_path / "file" / "x.png") is None  # parent is a file
    assert "Cannot write" in dialogs.errors.pop()[1]

    # a hand-made grid: overlay and coverage follow at once, the map is recomputed
    panel.auto_grid.setChecked(False)
    panel.patch.setValue(64)
    panel.stride.setValue(64)
    assert panel.grid.patch == 64 and panel.view.grid is panel.grid
    assert "64 px" in panel.coverage.text() and panel.map is None
    wait_map(qtbot, panel, dialogs)
    assert panel.map.grid == panel.grid


def test_video_frame_and_style_still(panel, qtbot, dialogs):
    panel.set_video(BUNNY, 5)
    wait_map(qtbot, panel, dialogs)
    assert panel.source.kind == "video" and panel.source.info["frame"] == 5
    assert panel.source.image.shape == (64, 128, 3)
    assert panel.grid.shape == (3, 7)

    styles = panel.library.list()
    assert panel.sources.style_combo.count() == len(styles) > 0
    panel.set_style(styles[0].id, 96)
    wait_map(qtbot, panel, dialogs)
    assert panel.source.kind == "style" and panel.source.image.shape == (96, 96, 3)
    assert panel.source.image.std() > 1  # a real render, not a blank
    assert panel.map.grid.width == 96


def test_nerv_run_predicted_vs_true(panel, qtbot, dialogs, tmp_path):
    import torch

    from engine.clip import ClipSpec
    from engine.nerv.train import NervTrainConfig, NervTrainer
    from engine.spatial import views

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = NervTrainConfig(video=str(BUNNY), model="hnerv-tiny", epochs=1, eval_every=1,
                              batch_size=4, lr=5e-3, size=(64, 128), clip_head="spatial")
        NervTrainer(cfg, clip_spec=ClipSpec(config=str(TINY_CLIP_CONFIG)),
                    run_dir=tmp_path / "run", cache_dir=tmp_path / "cache", log=None).run()
    finally:
        torch.set_num_threads(threads)
    dialogs.answer("choose_folder", str(tmp_path / "run"))
    panel.sources.run_frame.setValue(3)
    panel.sources.choose_run()
    wait_map(qtbot, panel, dialogs)
    src = panel.source
    assert src.kind == "run" and src.frame_count == 16 and panel.sources.run_frame.maximum() == 15
    assert panel.grid == src.predicted.grid
    assert not panel.patch.isEnabled() and not panel.auto_grid.isEnabled()
    assert "the run's grid" in panel.coverage.text()
    keys = [p.key for p in panel.panels]
    assert "agreement" in keys
    panel.view_combo.setCurrentIndex(keys.index("agreement"))
    expect = views.agreement(src.predicted.embeddings, panel.map.embeddings, panel.grid)
    assert np.allclose(panel.current_panel().values, expect)
    assert "predicted vs true" in panel.stats.text()
    assert "neighbour consistency" in panel.stats.text()
    shots = Path(os.environ.get("SONOLUME_SCREENSHOT_DIR", ROOT / "out" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shots / "spatial-panel-run.png"))
    click_patch(qtbot, panel, 0, 0)
    assert [p.key for p in panel.panels][:2] == ["click", "click_predicted"]


def test_corrupt_image_is_a_clear_error(panel, qtbot, dialogs, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a picture")
    panel.set_image(bad)
    qtbot.waitUntil(lambda: bool(dialogs.errors) and not panel.busy, timeout=WAIT_MS)
    title, message = dialogs.errors[0]
    assert "broken.png" in message and "cannot read" in message
    assert "unexpected" not in message
    assert panel.source is None and panel.map is None
    panel.export_png()
    assert "Nothing to export" in dialogs.errors[-1][1]


def test_cancel_stops_the_patch_embedding(panel, qtbot, dialogs, tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.tile(scene(), (4, 3, 1))).save(path)  # 960x800
    panel.batch_size = 4
    panel.auto_grid.setChecked(False)
    panel.patch.setValue(32)
    panel.stride.setValue(16)
    panel.set_image(path)
    qtbot.waitUntil(lambda: panel.progress.maximum() > 1000 and panel.progress.value() > 0,
                    timeout=WAIT_MS)
    assert panel.busy
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=WAIT_MS)
    assert panel.map is None and panel.status.text() == "cancelled"
    assert panel.progress.value() < panel.progress.maximum()
    assert dialogs.errors == []
    assert not panel.cancel_button.isEnabled()


def test_cancel_while_loading_drops_the_picture(panel, qtbot, dialogs, tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(scene()).save(path)
    panel.set_image(path)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.busy, timeout=WAIT_MS)
    qtbot.wait(50)
    assert panel.source is None and not panel.busy and dialogs.errors == []


def test_missing_clip_weights_explain_how_to_provide_them(panel, qtbot, dialogs, tmp_path):
    panel.settings.clip_config = ""
    panel.settings.clip_model, panel.settings.clip_pretrained = "RN50", "openai"
    panel.update_clip_label()
    assert "RN50" in panel.clip_label.text() and not panel.random_clip
    assert panel.view.warning == ""
    path = tmp_path / "scene.png"
    Image.fromarray(scene(96, 64)).save(path)
    dialogs.answer("clip_unavailable", "close")
    panel.set_image(path)
    qtbot.waitUntil(lambda: bool(dialogs.clip_messages) and not panel.busy, timeout=WAIT_MS)
    assert "--clip-checkpoint" in dialogs.clip_messages[0]
    assert panel.map is None and panel.source is not None and dialogs.errors == []
    # back to a CLIP that loads: the same picture gets its map
    panel.settings.clip_config = str(TINY_CLIP_CONFIG)
    panel.update_clip_label()
    panel.compute_map()
    wait_map(qtbot, panel, dialogs)
