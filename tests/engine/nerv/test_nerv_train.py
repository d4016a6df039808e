import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from engine.clip import ClipSpec
from engine.errors import Cancelled, SonolumeError
from engine.nerv.train import NervTrainConfig, NervTrainer
from engine.similarity import recall_at_k, verification_baselines


def trainer(video, cache, clip_config=None, run_dir=None, **kw):
    base = dict(video=str(video), size=(32, 64), model="nerv-tiny", epochs=4, eval_every=2,
                batch_size=2, lr=5e-3, seed=0)
    base.update(kw)
    spec = ClipSpec(config=str(clip_config)) if clip_config else None
    if base.get("clip_head", "global") == "none":
        spec = None
    return NervTrainer(NervTrainConfig(**base), clip_spec=spec, run_dir=run_dir,
                       cache_dir=cache, log=None)


def test_overfits_a_few_real_frames_to_high_psnr(bunny, nerv_cache):
    # 4 Big Buck Bunny frames at 32x64, every frame trained: > 30 dB in 60 epochs
    # (measured 36.1 dB with the four-stage preset, 33.8 at 45 epochs, 29.8 at 30; an
    # untrained model is at ~11 dB).
    t = trainer(bunny, nerv_cache, clip_head="none", model="nerv", max_frames=4, split="all",
                epochs=60, eval_every=60, batch_size=1)
    before = t.quick_eval()["psnr_train"]
    result = t.run()
    assert before < 15
    assert result.evals[-1]["psnr_train"] > 30
    assert len(result.history) == 60 and result.history[-1]["pixel_loss"] < \
        result.history[0]["pixel_loss"] / 4


def test_clip_head_beats_all_three_baselines(synth_video, nerv_cache, tiny_clip_config):
    # HNeRV with a global head on 16 synthetic frames (4_4_5: 13 train, 3 unseen), judged
    # by the tiny random CLIP. Chance (shuffled pairs) is ~0.84 mean cos here.
    t = trainer(synth_video, nerv_cache, tiny_clip_config, model="hnerv-tiny", epochs=40,
                eval_every=40)
    t.run()
    pred = t.predict()["clip_global"]
    target = t.targets["global"]
    b = verification_baselines(pred, target)
    assert b["true"] > 0.93
    assert b["margin"] > 0.02, b  # measured ~0.05
    assert b["true"] > b["random"] + 0.5
    unseen = verification_baselines(pred[t.unseen_idx], target[t.unseen_idx])
    assert unseen["margin"] > 0, unseen
    assert recall_at_k(pred, target)["R@5"] > 5 / 16


def test_warmup_epochs_leave_the_clip_head_untouched(synth_video, nerv_cache,
                                                     tiny_clip_config):
    t = trainer(synth_video, nerv_cache, tiny_clip_config, epochs=2, warmup_epochs=1,
                eval_every=1)
    events = []
    t.on_progress = events.append
    head0 = {k: v.clone() for k, v in t.model.head.state_dict().items()}
    torch.manual_seed(0)
    batches = t._epoch_batches(0)
    for b in batches:
        t.train_step(b)
    assert all(torch.equal(head0[k], v) for k, v in t.model.head.state_dict().items())
    t.batch_in_epoch = len(batches)
    t._end_epoch()
    t.run()
    assert not torch.equal(head0["fc1.weight"], t.model.head.fc1.weight)
    assert [e.phase for e in events if e.phase != "train"] == ["eval", "eval", "done"]
    # live views a GUI reads from its progress callback
    assert t.original(2).shape == t.reconstruction(2).shape == (32, 64, 3)
    sims = t.frame_similarities()
    assert sims["psnr"].shape == sims["clip_similarity"].shape == (16,)
    assert list(sims["role"][:5]) == ["train"] * 4 + ["unseen"]


def test_cancel_then_resume_matches_uninterrupted(synth_video, nerv_cache, tiny_clip_config,
                                                  tmp_path):
    full = trainer(synth_video, nerv_cache, tiny_clip_config, epochs=3, eval_every=1)
    full.run()
    cancel = threading.Event()

    def stop(ev):
        if ev.phase == "train" and ev.step == 9:  # epoch 2 (7 steps each), batch 2
            cancel.set()

    run_dir = tmp_path / "run"
    t = trainer(synth_video, nerv_cache, tiny_clip_config, run_dir=run_dir, epochs=3,
                eval_every=1)
    t.on_progress = stop
    with pytest.raises(Cancelled, match="resume"):
        t.run(cancel=cancel)
    state = json.loads((run_dir / "last.json").read_text())
    assert (state["epoch"], state["batch_in_epoch"], state["step"]) == (1, 2, 9)
    saved = load_file(str(run_dir / "last.safetensors"))
    assert any(k.startswith("optim.model.") for k in saved)  # Adam's state is in safetensors
    resumed = NervTrainer.resume(run_dir, cache_dir=nerv_cache, log=None)
    resumed.run()
    for (k, a), (_, b) in zip(full.model.state_dict().items(),
                              resumed.model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k
    assert [e["epoch"] for e in resumed.history] == [1, 2, 3]
    assert (run_dir / "best.safetensors").is_file()


def test_seeded_runs_repeat_and_seeds_differ(synth_video, nerv_cache):
    a = trainer(synth_video, nerv_cache, clip_head="none", epochs=1)
    b = trainer(synth_video, nerv_cache, clip_head="none", epochs=1)
    c = trainer(synth_video, nerv_cache, clip_head="none", epochs=1, seed=3)
    for t in (a, b, c):
        t.run()
    w = "decoder.rgb.weight"
    assert torch.equal(a.model.state_dict()[w], b.model.state_dict()[w])
    assert not torch.equal(a.model.state_dict()[w], c.model.state_dict()[w])


def test_targets_are_cached_and_reused_without_loading_clip(synth_video, tmp_path,
                                                            tiny_clip_config):
    cache = tmp_path / "cache"
    first = trainer(synth_video, cache, tiny_clip_config, clip_head="spatial")
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    with __import__("numpy").load(files[0], allow_pickle=False) as data:
        assert data["global"].shape == (16, 64)
        assert data["spatial"].shape == (16, first.grid.count, 64)
    assert first.grid.shape == (1, 3)  # 32x64 frame: 32 px patches at stride 16
    # Same video, size, CLIP and grid: loaded from the cache, CLIP never loaded.
    second = trainer(synth_video, cache, tiny_clip_config, clip_head="spatial")
    assert second._clip is None
    assert torch.equal(first.targets["spatial"], second.targets["spatial"])
    # A global-only run keys differently (no grid) but still reuses nothing it should not.
    trainer(synth_video, cache, tiny_clip_config, clip_head="global")
    assert len(list(cache.glob("*.npz"))) == 2


def test_optional_losses_run_and_are_logged(synth_video, nerv_cache, tiny_clip_config):
    t = trainer(synth_video, nerv_cache, tiny_clip_config, clip_head="spatial", epochs=1,
                contrastive="siglip", neighbour_weight=0.1, sequence_weight=0.3,
                batch_size=4, eval_every=1)
    t.run()
    h = t.history[-1]
    for k in ("pixel_loss", "clip_loss", "contrastive_loss", "sequence_loss", "total_loss"):
        assert k in h and torch.isfinite(torch.tensor(h[k])), k
    t = trainer(synth_video, nerv_cache, tiny_clip_config, contrastive="infonce", epochs=1,
                batch_size=4)
    t.run()
    assert t.history[-1]["contrastive_loss"] > 0


def test_bad_settings_are_clear_errors(synth_video, nerv_cache, tiny_clip_config):
    with pytest.raises(SonolumeError, match="batch"):
        trainer(synth_video, nerv_cache, tiny_clip_config, contrastive="infonce",
                batch_size=1)
    with pytest.raises(SonolumeError, match="4_4_5"):
        trainer(synth_video, nerv_cache, tiny_clip_config, split="4_5_5")
    with pytest.raises(SonolumeError, match="spatial"):
        trainer(synth_video, nerv_cache, tiny_clip_config, neighbour_weight=0.1)
    with pytest.raises(SonolumeError, match="not found"):
        trainer(synth_video.parent / "missing.mp4", nerv_cache, tiny_clip_config)


def test_cancel_during_clip_targets_caches_nothing(synth_video, tmp_path, tiny_clip_config):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match="CLIP targets"):
        NervTrainer(NervTrainConfig(video=str(synth_video), size=(32, 64)),
                    clip_spec=ClipSpec(config=str(tiny_clip_config)),
                    cache_dir=tmp_path / "cache", log=None, cancel=cancel)
    assert not list((tmp_path).rglob("*.npz"))


def test_training_flushes_subnormal_floats_and_restores_ieee_after():
    """Subnormal floats (below ~1.2e-38) cost x86 cores many times a normal operation and
    pile up late in a fit; training flushes them to zero, and the caller's thread gets
    IEEE behaviour back when it stops."""
    from pathlib import Path

    video = Path(__file__).resolve().parents[2] / "data" / "bunny-16f-64x128.mp4"
    tiny = torch.tensor([1e-39])
    seen = []

    def during(ev):
        if ev.phase == "train":
            seen.append(float(tiny * 1.0))

    torch.set_flush_denormal(False)
    assert float(tiny * 1.0) > 0
    t = NervTrainer(NervTrainConfig(video=str(video), size=(32, 64), model="nerv-tiny",
                                    clip_head="none", max_frames=4, split="all", epochs=1,
                                    batch_size=2), log=None, on_progress=during)
    t.run()
    assert seen and all(v == 0.0 for v in seen)
    assert float(tiny * 1.0) > 0
