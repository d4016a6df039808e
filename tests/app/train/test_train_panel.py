"""Training from the GUI: tiny random CLIP -> a new style in the grid; missing CLIP weights
-> an explanation with a way to fix it, never a frozen window."""

from __future__ import annotations

import time

from tests.conftest import TINY_CLIP_CONFIG


def _fill(panel, text, steps=3):
    panel.rows[0].text.setText(text)
    panel.steps.setValue(steps)
    panel.preset.setCurrentIndex(panel.preset.findData("draft"))


def test_train_tiny_clip_adds_style_to_grid(window, qtbot, dialogs):
    window.settings.clip_config = str(TINY_CLIP_CONFIG)
    panel = window.train_panel
    panel.update_clip_label()
    assert "random CLIP — testing only" in panel.clip_label.text()
    _fill(panel, "molten gold waves", steps=4)
    panel.negative.setText("text; watermark")
    before = len(window.library.list())
    with qtbot.waitSignal(panel.styleTrained, timeout=120_000) as blocker:
        panel.start_from_form()
        assert panel.busy
    style = blocker.args[0]
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert len(window.library.list()) == before + 1
    assert style.trained and style.clip_random
    assert style.meta["negatives"] == ["text", "watermark"]
    # It is in the grid, selected, and previewed, without a restart.
    assert window.library_panel.current_id() == style.id
    assert style.id in window.library_panel.visible_ids()
    assert window.stage.shown_style.id == style.id
    assert panel.progress.value() == 100
    assert len(panel._sims) == 4  # one similarity point per step
    assert panel.queue.item(0).text().startswith("✓")
    assert dialogs.errors == []
    # Once CLIP is loaded, semantic search is offered.
    assert not window.library_panel.semantic.isHidden()


def test_mood_board_queue_trains_one_style_per_prompt(window, qtbot, dialogs):
    from app.train.panel import TrainJob

    window.settings.clip_config = str(TINY_CLIP_CONFIG)
    panel = window.train_panel
    jobs = [TrainJob(prompts=[(p, 1.0)], steps=1) for p in ("frozen aurora", "neon rain")]
    trained = []
    panel.styleTrained.connect(trained.append)
    panel.enqueue(jobs)
    qtbot.waitUntil(lambda: len(trained) == 2 and not panel.busy, timeout=120_000)
    assert [s.name for s in trained] == ["frozen aurora", "neon rain"]
    assert all(j.state == "done" for j in jobs)


def test_missing_clip_weights_explains_and_accepts_a_checkpoint(window, qtbot, dialogs,
                                                                tmp_path):
    s = window.settings
    s.clip_config = ""
    s.clip_model, s.clip_pretrained = "RN50", "openai"
    panel = window.train_panel
    _fill(panel, "glass city at night")
    fake = tmp_path / "not-really-rn50.pt"
    fake.write_bytes(b"\0" * 64)
    # First answer: choose a checkpoint file; it is stored in the settings and training
    # resumes with it (this one is junk, so a second explanation follows: close it).
    dialogs.answer("clip_unavailable", "checkpoint", "close")
    dialogs.answer("open_file", str(fake))
    t0 = time.monotonic()
    panel.start_from_form()
    qtbot.waitUntil(lambda: len(dialogs.clip_messages) >= 1, timeout=30_000)
    assert time.monotonic() - t0 < 20  # no hanging on network retries
    first = dialogs.clip_messages[0]
    assert "--clip-checkpoint" in first and "RN50" in first
    assert s.clip_checkpoint == str(fake)
    qtbot.waitUntil(lambda: len(dialogs.clip_messages) >= 2 and not panel.busy,
                    timeout=60_000)
    assert "not-really-rn50.pt" in dialogs.clip_messages[1]
    job = panel.jobs[0]
    assert job.state == "waiting" and "CLIP" in job.note  # on hold, not lost
    assert "on hold" in panel.status.text() or "CLIP" in panel.status.text()
    assert len(window.library.list()) == len(window.library_panel.all_styles)


def test_empty_prompt_is_a_message(window, dialogs):
    window.train_panel.rows[0].text.setText("   ")
    window.train_panel.start_from_form()
    assert dialogs.errors and "prompt" in dialogs.errors[0][1].lower()
    assert not window.train_panel.busy


def test_preset_menu_reads_the_engine_registry(window):
    """One source for preset names and descriptions: the CLI and this menu agree."""
    from engine.cppn.train import DEFAULT_PRESET, TRAIN_PRESETS, list_presets

    panel = window.train_panel
    combo = panel.preset
    assert [combo.itemData(i) for i in range(combo.count())] == [p.name for p in list_presets()]
    assert [combo.itemText(i) for i in range(combo.count())] == [p.label for p in list_presets()]
    for name, preset in TRAIN_PRESETS.items():
        combo.setCurrentIndex(combo.findData(name))
        assert panel.preset_note.text() == preset.description
        tip = combo.itemData(combo.currentIndex(), 3)  # Qt.ToolTipRole
        assert preset.description in tip and preset.summary() in tip
    combo.setCurrentIndex(combo.findData(DEFAULT_PRESET))
