import threading

import numpy as np
import pytest
import torch

from engine.cppn.train import PRESETS, Prompt, TrainConfig, Trainer, with_schedule_scale
from engine.errors import Cancelled, SonolumeError


def small(**kw):
    base = dict(schedule=[(30, 48)], cutouts=2, checkpoint_every=10, preview_every=10,
                preview_size=32)
    base.update(kw)
    return TrainConfig.from_preset("draft", [Prompt("a red sunset over the sea")], **base)


def test_training_raises_similarity(tiny_clip):
    trainer = Trainer(small(schedule=[(60, 48)]), tiny_clip)
    before = trainer.evaluate()
    result = trainer.run()
    assert result.score > before + 0.02
    assert len(result.history) == 60
    assert result.thumbnail.shape == (256, 256, 3)


def test_progress_events_have_eta_and_previews(tiny_clip):
    events = []
    Trainer(small(), tiny_clip).run(on_progress=events.append)
    assert [e.iteration for e in events] == list(range(1, 31))
    assert all(e.total == 30 for e in events)
    assert events[5].eta > 0 and events[-1].eta == 0
    previews = [e for e in events if e.preview is not None]
    assert [e.iteration for e in previews] == [10, 20, 30]
    assert previews[0].preview.shape == (32, 32, 3)


def test_seeded_runs_are_reproducible(tiny_clip):
    a = Trainer(small(), tiny_clip).run()
    b = Trainer(small(), tiny_clip).run()
    for (ka, va), (_, vb) in zip(a.cppn.state_dict().items(), b.cppn.state_dict().items()):
        assert torch.equal(va, vb), ka
    c = Trainer(small(seed=7), tiny_clip).run()
    assert not torch.equal(a.cppn.out.weight, c.cppn.out.weight)


def test_cancel_then_resume_matches_uninterrupted(tiny_clip, tmp_path):
    cfg = small(schedule=[(12, 40), (13, 56)])
    full = Trainer(cfg, tiny_clip).run()

    cancel = threading.Event()

    def stop_at_17(ev):
        if ev.iteration == 17:
            cancel.set()

    run_dir = tmp_path / "run"
    with pytest.raises(Cancelled, match="resume"):
        Trainer(cfg, tiny_clip, run_dir).run(on_progress=stop_at_17, cancel=cancel)
    resumed = Trainer.resume(run_dir, tiny_clip)
    assert resumed.iteration == 17
    result = resumed.run()
    assert len(result.history) == 25
    for (k, va), vb in zip(full.cppn.state_dict().items(), result.cppn.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-6), k


def test_resume_rejects_garbage(tiny_clip, tmp_path):
    (tmp_path / "run.json").write_text("{broken")
    with pytest.raises(SonolumeError, match="cannot resume"):
        Trainer.resume(tmp_path, tiny_clip)


def test_negative_prompts_and_image_prompt(tiny_clip, tmp_path):
    from PIL import Image

    img = tmp_path / "ref.png"
    Image.fromarray((np.random.default_rng(0).random((40, 40, 3)) * 255).astype("uint8")).save(img)
    cfg = small(negatives=["blurry"], image_prompt=str(img), schedule=[(5, 40)])
    trainer = Trainer(cfg, tiny_clip)
    assert trainer.positives.shape[0] == 2 and trainer.negatives.shape[0] == 1
    assert torch.isclose(trainer.weights.sum(), torch.tensor(1.0))
    trainer.run()


@pytest.mark.parametrize("kw, match", [
    (dict(prompts=[Prompt("  ")]), "empty prompt"),
    (dict(prompts=[Prompt("x", weight=0)]), "weight"),
    (dict(prompts=[Prompt("x")], schedule=[(10, 8)]), "schedule"),
    (dict(prompts=[Prompt("x")], cutouts=0), "cutouts"),
    (dict(prompts=[Prompt("x")], image_prompt="/no/such.png"), "image prompt"),
])
def test_config_validation(kw, match):
    with pytest.raises(SonolumeError, match=match):
        TrainConfig(**kw).validate()


def test_presets_and_step_scaling():
    assert set(PRESETS) == {"draft", "standard", "high"}
    cfg = TrainConfig.from_preset("standard", [Prompt("x")])
    assert cfg.schedule == [(400, 256), (400, 512)] and cfg.total_iterations == 800
    scaled = with_schedule_scale(cfg, 100)
    assert scaled.schedule == [(50, 256), (50, 512)]
    with pytest.raises(SonolumeError, match="unknown preset"):
        TrainConfig.from_preset("turbo", [Prompt("x")])


def _save_like_before_the_checkpoint_module(trainer, run_dir):
    """The run-folder format written before engine/checkpoint.py (Adam state as
    ``adam.<param>`` tensors, its step counts in run.json)."""
    import json
    from dataclasses import asdict

    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"cppn.{k}": v.detach().contiguous() for k, v in trainer.cppn.state_dict().items()}
    steps = {}
    for name, p in trainer.cppn.named_parameters():
        state = trainer.optimizer.state.get(p)
        tensors[f"adam.{name}.exp_avg"] = state["exp_avg"].contiguous()
        tensors[f"adam.{name}.exp_avg_sq"] = state["exp_avg_sq"].contiguous()
        steps[name] = float(state["step"])
    save_file(tensors, str(run_dir / "checkpoint.safetensors"))
    config = trainer.config.to_json()
    del config["checkpoint_seconds"]
    info = {"config": config, "iteration": trainer.iteration, "elapsed": trainer.elapsed,
            "adam_steps": steps, "history": trainer.history,
            "clip": trainer.clip.spec.to_json(), "clip_spec": asdict(trainer.clip.spec),
            "job": {"name": "old"}}
    (run_dir / "run.json").write_text(json.dumps(info))


def test_a_run_saved_in_the_old_format_resumes_exactly(tiny_clip, tmp_path):
    cfg = small(schedule=[(20, 40)])
    full = Trainer(cfg, tiny_clip).run()
    part = Trainer(cfg, tiny_clip)
    for _ in range(8):
        part.step()
        part.history.append({"it": part.iteration})
    _save_like_before_the_checkpoint_module(part, tmp_path / "old")
    resumed = Trainer.resume(tmp_path / "old", tiny_clip)
    assert resumed.iteration == 8 and resumed.job == {"name": "old"}
    result = resumed.run()
    for (k, va), vb in zip(full.cppn.state_dict().items(), result.cppn.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-6), k


def test_checkpoints_by_time_as_well_as_by_steps(tiny_clip, tmp_path, monkeypatch):
    """A kill before the first step checkpoint must not lose the run."""
    import engine.cppn.train as train_mod

    clock = iter(range(0, 10_000, 40))  # every monotonic() call advances 40 s
    monkeypatch.setattr(train_mod.time, "monotonic", lambda: next(clock))
    saved = []
    trainer = Trainer(small(schedule=[(5, 40)], checkpoint_every=1000,
                            checkpoint_seconds=60), tiny_clip, tmp_path / "run")
    original = trainer.save_checkpoint
    monkeypatch.setattr(trainer, "save_checkpoint",
                        lambda: saved.append(trainer.iteration) or original())
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        trainer.run(on_progress=lambda ev: ev.iteration == 3 and cancel.set(), cancel=cancel)
    assert saved[0] < 3  # a save by time before the cancel's own
    assert Trainer.resume(tmp_path / "run", tiny_clip).iteration == 3


def test_the_run_stores_absolute_paths(tiny_clip, tmp_path, monkeypatch):
    import copy
    import json
    import shutil

    from PIL import Image

    from engine.clip import ClipSpec

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (40, 40), "red").save("ref.png")
    shutil.copy(tiny_clip.spec.config, "tiny.json")
    clip = copy.copy(tiny_clip)
    clip.spec = ClipSpec(config="tiny.json")
    trainer = Trainer(small(image_prompt="ref.png", schedule=[(2, 40)]), clip, "run")
    trainer.step()
    trainer.save_checkpoint()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["config"]["image_prompt"] == str(tmp_path / "ref.png")
    assert info["clip_spec"]["config"] == str(tmp_path / "tiny.json")
    assert info["clip_spec"]["checkpoint"] is None
