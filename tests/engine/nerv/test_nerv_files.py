"""The NeRV run folder's files: written whole or not at all, nothing left behind on failure,
and one definition of the format (engine.nerv.run) that the trainer and the viewer share."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.errors import SonolumeError
from engine.nerv import run as nrun
from engine.nerv import targets as ntargets


class MeanColourClip:
    """Just what compute_targets reads: an input size and unit image embeddings."""

    image_size = 8

    def encode_image(self, images, resize=True):
        rgb = images.mean(dim=(2, 3))
        return F.normalize(torch.cat([rgb, torch.ones_like(rgb[:, :1])], 1), dim=-1)


def frames(n=3):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def test_target_cache_write_that_fails_leaves_no_file_behind(tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def half_then_fail(path, **arrays):
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ntargets.np, "savez", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        ntargets.load_or_compute(cache, "k" * 32, frames(), MeanColourClip, None)
    assert list(cache.iterdir()) == []


def test_target_cache_round_trip(tmp_path):
    got, cached = ntargets.load_or_compute(tmp_path, "abc", frames(), MeanColourClip, None)
    assert not cached and got["global"].shape == (3, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["abc.npz"]
    again, cached = ntargets.load_or_compute(tmp_path, "abc", frames(), lambda: 1 / 0, None)
    assert cached and np.array_equal(again["global"], got["global"])


def test_cache_folder_follows_the_cache_variable(tmp_path, monkeypatch):
    from engine.spatial.maps import default_cache_dir as spatial_cache

    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "c"))
    assert ntargets.default_cache_dir() == tmp_path / "c" / "nerv-targets"
    assert spatial_cache() == tmp_path / "c" / "spatial"


def test_checkpoint_round_trips_and_a_failed_write_keeps_the_old_one(tmp_path, monkeypatch):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {"epoch": 2, "history": [{"epoch": 1}]}
    path = nrun.save_checkpoint(tmp_path, nrun.LAST, {"model": model}, opt, state)
    assert path == nrun.checkpoint_path(tmp_path, "last") == tmp_path / "last.safetensors"
    assert json.loads((tmp_path / "last.json").read_text()) == state
    assert nrun.read_checkpoint_state(tmp_path, nrun.LAST) == state
    twin = torch.nn.Linear(3, 2)
    twin_opt = torch.optim.Adam(twin.parameters(), lr=0.1)
    assert nrun.load_checkpoint(tmp_path, nrun.LAST, {"model": twin}, twin_opt) == state
    assert torch.equal(twin.weight, model.weight)
    assert torch.equal(twin_opt.state[twin.weight]["exp_avg"], opt.state[model.weight]["exp_avg"])
    assert set(nrun.read_module_state(tmp_path, nrun.LAST, "model")) == {"weight", "bias"}

    import safetensors.torch

    def boom(tensors, filename, metadata=None):
        open(filename, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", boom)
    with pytest.raises(OSError):
        nrun.save_checkpoint(tmp_path, nrun.LAST, {"model": torch.nn.Linear(3, 2)}, None,
                             {"epoch": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.json", "last.safetensors"]
    assert nrun.load_checkpoint(tmp_path, nrun.LAST, {"model": twin})["epoch"] == 2


def _write_legacy_last(trainer) -> None:
    """Checkpoint 'last' as NeRV runs wrote it before engine.checkpoint: tensors
    ``model.*`` and ``adam.model.*.exp_avg[_sq]``, Adam's steps and the position only in
    last.json."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().contiguous()
               for k, v in trainer.model.state_dict().items()}
    steps = {}
    for name, p in trainer.model.named_parameters():
        st = trainer.optimizer.state.get(p)
        if st:
            tensors[f"adam.model.{name}.exp_avg"] = st["exp_avg"].contiguous()
            tensors[f"adam.model.{name}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
            steps[f"model.{name}"] = float(st["step"])
    info = {"epoch": trainer.epoch, "batch_in_epoch": trainer.batch_in_epoch,
            "step": trainer.step_count, "elapsed": trainer.elapsed, "adam_steps": steps,
            "epoch_sums": trainer._epoch_sums, "history": trainer.history,
            "evals": trainer.evals, "best": trainer.best}
    run_dir = trainer.run_dir
    (run_dir / "last.safetensors").unlink()
    save_file(tensors, str(run_dir / "last.safetensors"), metadata={"format": "sonolume-nerv"})
    (run_dir / "last.json").write_text(json.dumps(info))


def test_a_run_saved_before_engine_checkpoint_opens_and_resumes_exactly(synth_video,
                                                                       nerv_cache, tmp_path):
    from engine.errors import Cancelled
    from engine.nerv.train import NervTrainConfig, NervTrainer

    def make(run_dir=None):
        cfg = NervTrainConfig(video=str(synth_video), size=(32, 64), model="nerv-tiny",
                              epochs=2, eval_every=1, batch_size=2, clip_head="none")
        return NervTrainer(cfg, run_dir=run_dir, cache_dir=nerv_cache, log=None)

    full = make()
    full.run()
    run_dir = tmp_path / "old-run"
    t = make(run_dir)

    class StopAt:
        def is_set(self):
            return t.step_count == 10  # epoch 2, batch 3

    with pytest.raises(Cancelled):
        t.run(cancel=StopAt())
    _write_legacy_last(t)
    assert nrun.NervRun.open(run_dir, "last").epoch == 1
    resumed = NervTrainer.resume(run_dir, cache_dir=nerv_cache, log=None)
    assert resumed.step_count == 10
    resumed.run()
    for (k, a), (_, b) in zip(full.model.state_dict().items(),
                              resumed.model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k
    # and the run is now in the new format
    from safetensors.torch import load_file

    assert any(k.startswith("optim.model.") for k in load_file(str(run_dir /
                                                                   "last.safetensors")))


def test_run_info_is_checked(tmp_path):
    with pytest.raises(SonolumeError, match="not a NeRV run"):
        nrun.read_run_info(tmp_path)
    (tmp_path / nrun.RUN_JSON).write_text('{"kind": "something else"}')
    with pytest.raises(SonolumeError, match="not a NeRV run"):
        nrun.read_run_info(tmp_path)
    nrun.write_run_info(tmp_path, {"kind": nrun.RUN_KIND, "version": nrun.RUN_VERSION})
    assert nrun.read_run_info(tmp_path)["version"] == 1
    assert nrun.read_targets(tmp_path) is None
    nrun.write_targets(tmp_path, {"global": np.ones((2, 4), np.float32)})
    assert nrun.read_targets(tmp_path)["global"].shape == (2, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [nrun.RUN_JSON, nrun.TARGETS]


def test_frame_times_span_zero_to_one():
    t = nrun.frame_times(5)
    assert t.dtype == torch.float64 and t[0] == 0 and t[-1] == 1
    assert nrun.frame_times(1).tolist() == [0.0]


def test_the_trainer_uses_the_run_format():
    # One definition: the names the trainer writes are the ones the viewer reads.
    from engine.nerv import train

    assert train.RUN_JSON is nrun.RUN_JSON and train.TARGETS is nrun.TARGETS
    assert train.frame_times is nrun.frame_times
    assert train.save_checkpoint is nrun.save_checkpoint
    assert not hasattr(train, "atomic_write_text") and not hasattr(train, "atomic_savez")


def _stale_temporary(folder, name="x.npz", hours=7):
    import os
    import time

    from engine.atomic import temp_path

    folder.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(folder / name)
    tmp.write_bytes(b"half")
    old = time.time() - hours * 3600
    os.utime(tmp, (old, old))
    return tmp


def test_what_a_killed_run_left_is_removed_next_time(tmp_path):
    # the target cache
    cache = tmp_path / "cache"
    stale, fresh = _stale_temporary(cache), _stale_temporary(cache, "y.npz", hours=0)
    ntargets.load_or_compute(cache, "k", frames(), MeanColourClip, None)
    assert not stale.exists() and fresh.exists()  # a live write may still own a fresh one
    # a run folder and its eval folder, when the run (re)starts
    run = tmp_path / "run"
    leftovers = [_stale_temporary(run, "last.safetensors"),
                 _stale_temporary(run / nrun.EVAL_DIR, "summary.json")]
    nrun.write_run_info(run, {"kind": nrun.RUN_KIND})
    assert not any(p.exists() for p in leftovers)

