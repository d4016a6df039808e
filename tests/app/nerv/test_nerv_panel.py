"""The NeRV-CLIP research panel, standalone: a tiny training run fills every view, cancel
and resume, bad input is a clear message that starts nothing, finished runs open for
browsing, evaluation and verification."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA, TINY_CLIP_CONFIG

BUNNY = DATA / "bunny-16f-64x128.mp4"
ROOT = Path(__file__).resolve().parents[3]
WAIT = 60_000  # ms; a tiny run takes a few seconds, this only stops a hang


@pytest.fixture
def panel(qtbot, app_env, dialogs, monkeypatch):
    from app.clip_service import ClipService
    from app.nerv.panel import NervPanel
    from app.settings import AppSettings

    monkeypatch.setenv("SONOLUME_CACHE", str(app_env / "cache"))
    settings = AppSettings()
    settings.clip_config = str(TINY_CLIP_CONFIG)
    p = NervPanel(settings, ClipService())
    qtbot.addWidget(p)
    p.resize(1100, 820)
    p.show()
    yield p
    p.shutdown()
    qtbot.waitUntil(lambda: not p.busy, timeout=WAIT)


def tiny_form(panel, epochs=2, head="global", split="4_4_5"):
    f = panel.form
    f.model.setCurrentIndex(f.model.findData("nerv-tiny"))
    f.size.setText("32x64")
    f.epochs.setValue(epochs)
    f.eval_every.setValue(1)
    f.head.setCurrentIndex(f.head.findData(head))
    f.split.setText(split)
    f.threads.setValue(1)


def pixels(label) -> np.ndarray:
    from tests.app.screenshots import qimage_array

    return qimage_array(label.pixmap().toImage())


def run_to_end(qtbot, p, action) -> None:
    assert action()
    assert p.busy
    qtbot.waitUntil(lambda: not p.busy, timeout=WAIT)


def test_tiny_training_fills_curves_frames_and_per_frame_plot(panel, qtbot, dialogs,
                                                              app_env):
    p = panel
    assert "random CLIP — testing only" in p.form.clip_label.text()
    assert p.set_video(BUNNY)
    tiny_form(p, epochs=2)
    finished = []
    p.runFinished.connect(finished.append)
    run_to_end(qtbot, p, p.start)
    assert dialogs.errors == [], dialogs.errors
    assert p.progress.value() == 100 and "done" in p.status.text()
    assert "random CLIP" in p.status.text() and "RANDOM CLIP" in p.run_label.text()
    # curves: a loss point per epoch, an evaluation point per epoch (train and unseen)
    for key in ("pixel_loss", "clip_loss", "psnr_train", "psnr_unseen",
                "clip_similarity_train", "clip_similarity_unseen"):
        assert p.curves.points(key) == 2, key
    # any frame: original and reconstruction side by side, both real pictures
    p.frames.set_frame(4)
    assert "unseen" in p.frames.caption.text() and "PSNR" in p.frames.caption.text()
    orig, recon = pixels(p.frames.original), pixels(p.frames.recon)
    assert orig.std() > 10 and recon.std() > 1
    assert p.frames.original.rgb.shape == p.frames.recon.rgb.shape == (32, 64, 3)
    # per-frame similarity: 16 frames of 4_4_5 -> 13 train, 3 unseen, marked apart
    assert p.per_frame.counts() == {"train": 13, "unseen": 3, "skipped": 0}
    assert p.per_frame.cursor.value() == 4
    # the run folder, under $SONOLUME_RUNS
    run_dir = Path(finished[0])
    assert run_dir.parent == app_env / "runs" / "nerv"
    for name in ("run.json", "best.safetensors", "last.json", "targets.npz"):
        assert (run_dir / name).is_file(), name
    assert p.eval_button.isEnabled() and p.verify_button.isEnabled()
    assert not p.resume_button.isEnabled()  # finished: nothing to resume
    shots = ROOT / "out" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    assert p.grab().save(str(shots / "nerv-panel.png"))


def test_cancel_stops_training_and_resume_finishes_it(panel, qtbot, dialogs):
    p = panel
    p.set_video(BUNNY)
    tiny_form(p, epochs=500, head="none")
    cancelled = []
    assert p.start()
    qtbot.waitUntil(lambda: len(p.history) >= 1, timeout=WAIT)
    p.worker.signals.cancelled.connect(cancelled.append)
    p.cancel()
    qtbot.waitUntil(lambda: not p.busy, timeout=WAIT)
    assert cancelled and "stopped" in cancelled[0]
    assert p.progress.format() == "cancelled" and "resume" in p.status.text()
    assert dialogs.errors == []
    assert p.last_result is None
    assert p.resume_button.isEnabled()
    # resume, to a smaller total: one more epoch from the saved position
    done = len(p.history)
    p.form.epochs.setValue(done + 1)
    run_to_end(qtbot, p, p.resume)
    assert dialogs.errors == [], dialogs.errors
    assert p.last_result is not None and p.last_result.epochs == done + 1
    assert [r["epoch"] for r in p.history][-1] == done + 1
    # no CLIP head: the per-frame plot shows PSNR, and there is nothing to verify
    assert p.per_frame.metric.currentData() == "psnr"
    assert sum(p.per_frame.counts().values()) == 16
    assert p.eval_button.isEnabled() and not p.verify_button.isEnabled()


def test_spatial_head_trains_and_reports_per_patch_similarity(panel, qtbot, dialogs):
    p = panel
    p.set_video(BUNNY)
    tiny_form(p, epochs=1, head="spatial")
    run_to_end(qtbot, p, p.start)
    assert dialogs.errors == [], dialogs.errors
    assert p.curves.points("clip_similarity_unseen") == 1
    assert p.per_frame.counts()["unseen"] == 3
    assert "patches head" in p.results.toPlainText()  # the model's description
    grid = json.loads((p.run_dir / "run.json").read_text())["grid"]
    assert grid and grid["patch"] > 0


def test_bad_split_is_a_clear_message_and_starts_nothing(panel, dialogs, app_env):
    p = panel
    p.set_video(BUNNY)
    tiny_form(p)
    p.form.split.setText("4_5_5")
    assert p.form.split_error.isVisible() and "4_4_5" in p.form.split_error.text()
    assert not p.start()
    assert not p.busy
    assert dialogs.errors and "unseen set empty" in dialogs.errors[-1][1]
    assert not (app_env / "runs").exists()
    p.form.split.setText("4_4_5")
    assert not p.form.split_error.isVisible()


def test_unreadable_video_is_an_error(panel, qtbot, dialogs, tmp_path):
    p = panel
    junk = tmp_path / "broken.mp4"
    junk.write_bytes(os.urandom(2048))
    assert not p.set_video(junk)
    assert dialogs.errors and "broken.mp4" in dialogs.errors[-1][1]
    assert p.video is None
    # a file that stops decoding later still reaches the user from the worker
    p.form.video = str(junk)
    tiny_form(p)
    run_to_end(qtbot, p, p.start)
    assert len(dialogs.errors) == 2
    title, message = dialogs.errors[-1]
    assert title == "NeRV training failed" and "broken.mp4" in message


def test_missing_clip_weights_explain_how_to_provide_them(panel, qtbot, dialogs):
    p = panel
    s = p.settings
    s.clip_config = ""
    s.clip_model, s.clip_pretrained = "RN50", "openai"
    p.update_clip_label()
    p.set_video(BUNNY)
    tiny_form(p)
    t0 = time.monotonic()
    run_to_end(qtbot, p, p.start)
    assert time.monotonic() - t0 < 30
    assert len(dialogs.clip_messages) == 1 and "--clip-checkpoint" in dialogs.clip_messages[0]
    assert dialogs.errors == []


@pytest.fixture
def finished_run(tmp_path, monkeypatch):
    from engine.clip import ClipSpec
    from engine.nerv.train import NervTrainConfig, NervTrainer

    cfg = NervTrainConfig(video=str(BUNNY), size=(32, 64), model="nerv-tiny", epochs=2,
                          eval_every=1, batch_size=2)
    run_dir = tmp_path / "finished"
    NervTrainer(cfg, clip_spec=ClipSpec(config=str(TINY_CLIP_CONFIG)), run_dir=run_dir,
                cache_dir=tmp_path / "cache-run", log=None, threads=1).run()
    return run_dir


def test_open_finished_run_browse_evaluate_verify(panel, qtbot, dialogs, finished_run):
    p = panel
    dialogs.answer("choose_folder", str(finished_run))
    p.choose_run()
    assert p.busy
    qtbot.waitUntil(lambda: not p.busy, timeout=WAIT)
    assert dialogs.errors == [], dialogs.errors
    assert p.run_dir == finished_run and "opened" in p.status.text()
    assert p.frames.slider.maximum() == 15
    p.frames.set_frame(9)  # unseen (position 4 of its group)
    assert "unseen" in p.frames.caption.text()
    assert pixels(p.frames.recon).std() > 1
    assert p.curves.points("pixel_loss") == 2 and p.curves.points("psnr_unseen") == 2
    assert p.per_frame.counts()["unseen"] == 3
    assert "RANDOM CLIP" in p.run_label.text()
    run_to_end(qtbot, p, p.evaluate)
    assert "PSNR (dB)" in p.results.toPlainText()
    assert (finished_run / "eval" / "summary.json").is_file()
    run_to_end(qtbot, p, p.verify)
    text = p.results.toPlainText()
    assert "beats all baselines" in text and "R@1" in text and "PSNR (dB)" in text
    assert dialogs.errors == [], dialogs.errors
    # reopened later, the evaluation and verification are shown again
    p.results.clear()
    run_to_end(qtbot, p, lambda: p.open_run(finished_run))
    assert "PSNR (dB)" in p.results.toPlainText() and "R@1" in p.results.toPlainText()


def test_open_a_folder_that_is_not_a_run(panel, qtbot, dialogs, tmp_path):
    run_to_end(qtbot, panel, lambda: panel.open_run(tmp_path))
    assert dialogs.errors and "not a NeRV run" in dialogs.errors[-1][1]
    assert not panel.eval_button.isEnabled()


def test_advanced_losses_reach_the_run(panel, qtbot, dialogs):
    import json

    p = panel
    assert p.set_video(BUNNY)
    tiny_form(p, epochs=1)
    f = p.form
    assert not f.advanced.isVisibleTo(p)
    f.advanced_button.click()
    assert f.advanced.isVisibleTo(p)
    f.contrastive.setCurrentIndex(f.contrastive.findData("infonce"))
    assert not p.start()  # a contrastive loss needs two frames per batch
    assert dialogs.errors and "batch" in dialogs.errors[-1][1]
    dialogs.errors.clear()
    f.batch.setValue(2)
    f.sequence_weight.setValue(0.2)
    f.pixel_loss.setCurrentIndex(f.pixel_loss.findData("l1"))
    f.lr.setValue(0.002)
    finished = []
    p.runFinished.connect(finished.append)
    run_to_end(qtbot, p, p.start)
    assert dialogs.errors == [], dialogs.errors
    cfg = json.loads((Path(finished[0]) / "run.json").read_text())["config"]
    assert (cfg["contrastive"], cfg["batch_size"], cfg["sequence_weight"],
            cfg["pixel_loss"], cfg["lr"]) == ("infonce", 2, 0.2, "l1", 0.002)


def test_a_moved_video_is_located_and_checked(panel, qtbot, dialogs, tmp_path):
    import shutil

    from engine.clip import ClipSpec
    from engine.nerv.train import NervTrainConfig, NervTrainer

    video = tmp_path / "clip.mp4"
    shutil.copy(BUNNY, video)
    cfg = NervTrainConfig(video=str(video), size=(32, 64), model="nerv-tiny", epochs=1,
                          eval_every=1)
    run_dir = tmp_path / "moved-run"
    NervTrainer(cfg, clip_spec=ClipSpec(config=str(TINY_CLIP_CONFIG)), run_dir=run_dir,
                cache_dir=tmp_path / "cache-run", log=None, threads=1).run()
    moved = tmp_path / "elsewhere" / "clip.mp4"
    moved.parent.mkdir()
    video.rename(moved)
    # a different file first: refused by its hash, nothing opens
    other = tmp_path / "other.mp4"
    other.write_bytes(moved.read_bytes()[:-64])
    dialogs.answer("open_file", str(other))
    p = panel
    assert p.open_run(run_dir)
    qtbot.waitUntil(lambda: not p.busy and bool(dialogs.errors), timeout=WAIT)
    assert "not the video this run was trained on" in dialogs.errors[-1][1]
    assert p.run_dir != run_dir
    # the right file: the run opens, and Evaluate uses it without asking again
    dialogs.errors.clear()
    p.moved_videos.clear()
    dialogs.answer("open_file", str(moved))
    assert p.open_run(run_dir)
    qtbot.waitUntil(lambda: p.run_dir == run_dir and not p.busy, timeout=WAIT)
    assert dialogs.errors == [], dialogs.errors
    assert p.moved_videos[run_dir] == str(moved) and p.frames.slider.maximum() == 15
    assert p.evaluate()
    qtbot.waitUntil(lambda: not p.busy, timeout=WAIT)
    assert dialogs.errors == [], dialogs.errors
