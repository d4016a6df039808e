"""NervTrainer(device=): the CPU path is the run it always was, CUDA where there is none is
a clear error before any work, runs record their device and resume on the CPU, and the
CLI's --device reaches the trainer. (The CUDA side runs in tests/gpu/test_cuda_paths.py.)"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from engine.cli.main import main
from engine.clip import ClipSpec
from engine.errors import Cancelled, SonolumeError
from engine.nerv.run import NervRun
from engine.nerv.train import (
    NervTrainConfig,
    NervTrainer,
    check_fits,
    device_choices,
    resume_device,
)

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
GiB, MiB = 2**30, 2**20


def config(video, **kw) -> NervTrainConfig:
    base = dict(video=str(video), size=(32, 64), model="hnerv", target_params=30_000,
                clip_head="none", split="all", epochs=2, eval_every=1, batch_size=2,
                lr=1e-3, pixel_loss="l2", seed=0)
    base.update(kw)
    return NervTrainConfig(**base)


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def weights(trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}


def test_device_cpu_is_the_run_without_a_device(bunny, nerv_cache, tiny_clip_config):
    # the spatial head, contrastive and sequence losses: every tensor a step indexes
    # (frames, times, targets, the learnable similarity) goes through the device path
    cfg = dict(clip_head="spatial", contrastive="siglip", neighbour_weight=0.1,
               sequence_weight=0.3, batch_size=4)
    spec = ClipSpec(config=str(tiny_clip_config))
    runs = []
    for device in ({}, {"device": "cpu"}, {"device": torch.device("cpu")}):
        t = NervTrainer(config(bunny, **cfg), clip_spec=spec, cache_dir=nerv_cache,
                        log=None, **device)
        assert t.device == torch.device("cpu")
        assert t.frames.device == t.times.device == t.targets["spatial"].device == t.device
        runs.append((t, t.run()))
    (first, a), *others = runs
    assert len(a.history) == 2 and "sequence_loss" in a.history[-1]
    for t, r in others:
        assert untimed(r.history) == untimed(a.history)
        assert untimed(r.evals) == untimed(a.evals)
        for k, v in weights(first).items():
            assert torch.equal(v, weights(t)[k]), k
    # what a GUI reads lives on the host
    recon = first.reconstruction(3)
    assert isinstance(recon, np.ndarray) and recon.shape == (32, 64, 3)
    assert first.frame_similarities()["clip_similarity"].shape == (16,)


@NO_CUDA
def test_auto_is_the_cpu_where_there_is_no_gpu(bunny):
    t = NervTrainer(config(bunny, epochs=1), log=None, device="auto")
    assert t.device == torch.device("cpu")
    assert device_choices() == [("cpu", "CPU")]  # the app shows no device combo here


@NO_CUDA
def test_cuda_without_a_gpu_fails_before_any_work(tmp_path):
    # the video does not exist: the device is refused first, before anything is read
    missing = tmp_path / "missing.mp4"
    with pytest.raises(SonolumeError, match=r"no CUDA GPU here .*use --device cpu"):
        NervTrainer(config(missing), log=None, device="cuda")
    with pytest.raises(SonolumeError, match="unknown device 'gpu0'"):
        NervTrainer(config(missing), log=None, device="gpu0")
    with pytest.raises(SonolumeError, match="cpu or cuda"):
        NervTrainer(config(missing), log=None, device="meta")
    with pytest.raises(SonolumeError, match="not found"):
        NervTrainer(config(missing), log=None, device="cpu")


def test_a_video_too_big_for_the_device_names_the_sizes():
    need = {"frames": 3 * GiB, "frame times": 1024, "CLIP targets": 10 * MiB}
    with pytest.raises(SonolumeError) as err:
        check_fits(need, free=2 * GiB, total=80 * GiB, where="cuda:0 (a GPU)")
    text = str(err.value)
    for part in ("cuda:0 (a GPU)", "needs 3.01 GiB", "frames 3.00 GiB", "CLIP targets 10.0 MiB",
                 "2.00 GiB of the device's 80.00 GiB are free", "--device cpu"):
        assert part in text, (part, text)
    check_fits(need, free=4 * GiB, total=80 * GiB, where="cuda:0")  # fits: no error


def test_a_cpu_run_records_its_device_and_resumes_on_the_cpu(bunny, tmp_path):
    full = NervTrainer(config(bunny, epochs=3), log=None, device="cpu")
    full.run()
    run_dir = tmp_path / "run"
    cancel = threading.Event()
    t = NervTrainer(config(bunny, epochs=3), log=None, device="cpu", run_dir=run_dir,
                    on_progress=lambda ev: ev.phase == "train" and ev.step == 11
                    and cancel.set())  # epoch 2 of 3 (8 steps each), batch 3
    with pytest.raises(Cancelled):
        t.run(cancel=cancel)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["device"] == {"type": "cpu", "label": "cpu"}
    resumed = NervTrainer.resume(run_dir, log=None, device="cpu")
    assert resumed.device == torch.device("cpu") and resumed.step_count == 11
    resumed.run()
    for k, v in weights(full).items():
        assert torch.allclose(v, weights(resumed)[k], atol=1e-6), k
    assert [e["epoch"] for e in resumed.history] == [1, 2, 3]
    # no device asked for: the one it last trained on
    assert NervTrainer.resume(run_dir, log=None, epochs=4).device == torch.device("cpu")


@NO_CUDA
def test_a_run_from_a_gpu_continues_on_the_cpu_here(bunny, tmp_path):
    """A run folder from a GPU machine (its run.json says so; checkpoints are the same
    device-free files) resumes here on the CPU, saying why; asking for CUDA is refused."""
    run_dir = tmp_path / "run"
    NervTrainer(config(bunny), log=None, device="cpu", run_dir=run_dir).run()
    info = json.loads((run_dir / "run.json").read_text())
    info["device"] = {"type": "cuda", "label": "cuda:0 (NVIDIA H200)"}
    (run_dir / "run.json").write_text(json.dumps(info))
    assert NervRun(run_dir).trained_on == "cuda:0 (NVIDIA H200)"  # and it opens here
    said = []
    t = NervTrainer.resume(run_dir, epochs=3, log=said.append)
    assert t.device == torch.device("cpu")
    assert said and "cuda:0 (NVIDIA H200)" in said[0] and "on the CPU" in said[0]
    assert t.run().epochs == 3
    with pytest.raises(SonolumeError, match="no CUDA GPU"):
        NervTrainer.resume(run_dir, epochs=4, log=None, device="cuda")
    # runs from before devices were recorded trained on the CPU
    assert resume_device({"kind": "sonolume-nerv-run"}, log=None) == "cpu"


def test_out_of_device_memory_in_a_step_is_a_clear_error(bunny, tmp_path, monkeypatch):
    t = NervTrainer(config(bunny, epochs=2), log=None, device="cpu", run_dir=tmp_path / "r")
    real, calls = NervTrainer.train_step, {"n": 0}

    def step(self, idx):
        calls["n"] += 1
        if calls["n"] == 10:  # what CUDA's allocator raises when a batch does not fit
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, idx)

    monkeypatch.setattr(NervTrainer, "train_step", step)
    with pytest.raises(SonolumeError, match=r"out of memory on cpu in epoch 2 with batches "
                       r"of 2 32x64 frames \(CUDA out of memory.*--batch-size"):
        t.run()
    assert (tmp_path / "r" / "last.safetensors").is_file()  # epoch 1's checkpoint is kept


def test_cli_device_flag_reaches_the_trainer(bunny, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["nerv", "train", str(bunny), "--out", str(out), "--size", "32x64", "--model",
            "nerv-tiny", "--clip-head", "none", "--frames", "4", "--split", "all",
            "--batch-size", "2", "--threads", "1", "--quiet"]
    assert main([*args, "--epochs", "1", "--device", "cpu"]) == 0
    assert "training on cpu" in capsys.readouterr().out
    assert json.loads((out / "run.json").read_text())["device"]["type"] == "cpu"
    assert main(["nerv", "train", "--resume", str(out), "--epochs", "2", "--device", "cpu",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "resuming" in text and "training on cpu" in text
    assert main(["nerv", "eval", str(out), "--no-clip"]) == 0
    assert "; trained on cpu" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--device", "gpu"])
    assert exit_.value.code == 2 and "invalid choice: 'gpu'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        fresh = tmp_path / "fresh"
        assert main([*args[:3], "--out", str(fresh), *args[5:], "--device", "cuda"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
        assert not fresh.exists()  # refused before any work


def test_what_the_model_builds_in_a_step_follows_its_inputs_device():
    """The spatial head's pooling matrix and NeRV's time encoding are made inside the
    forward pass; built on the CPU they would break a model on the GPU. The meta device
    (shapes only, no data) shows where they land without one."""
    from engine.nerv.models import box_pool_matrix, positional_encoding

    boxes = torch.tensor([[0.0, 0.0, 0.5, 1.0], [0.5, 0.0, 1.0, 1.0]])
    on_cpu = box_pool_matrix(boxes, 4, 8)
    assert on_cpu.shape == (2, 32) and torch.allclose(on_cpu.sum(1), torch.ones(2))
    assert box_pool_matrix(boxes.to("meta"), 4, 8).device.type == "meta"
    assert positional_encoding(torch.zeros(2, device="meta"), 1.25, 4).device.type == "meta"


@pytest.mark.parametrize("model,head,extra", [
    ("hnerv", "spatial", dict(contrastive="siglip", neighbour_weight=0.1,
                              pixel_loss="fusion6")),
    ("nerv", "global", dict(contrastive="infonce", pixel_loss="l2")),
])
def test_a_step_keeps_to_the_trainers_device(bunny, nerv_cache, tiny_clip_config, model,
                                             head, extra):
    """Everything one step makes (the batch, the model's outputs, every loss and gradient)
    lands on the device the trainer placed its tensors on. Checked on the meta device
    (shapes, no data), so a tensor made on the CPU by mistake fails here, without a GPU.
    (The sequence loss is left out: its DTW path reads values, on the host by design.)"""
    cfg = config(bunny, model=model, clip_head=head, split="4_4_5", batch_size=4, **extra)
    t = NervTrainer(cfg, clip_spec=ClipSpec(config=str(tiny_clip_config)),
                    cache_dir=nerv_cache, log=None)
    t.device = torch.device("meta")
    t._place()
    idx = t._epoch_batches(0)[0]
    assert idx.device.type == "meta" and len(idx) == 4
    parts = t.losses(idx, t.model(**t.model_inputs(idx)), clip_on=True)
    assert {"pixel_loss", "clip_loss", "contrastive_loss"} <= set(parts)
    assert all(v.device.type == "meta" for v in parts.values())
    parts["total_loss"].backward()
    grads = [p.grad for p in t.model.parameters() if p.grad is not None]
    assert grads and all(g.device.type == "meta" for g in grads)
