"""The CUDA paths of training, rendering, export and NeRV agree with their CPU paths.

Each test skips with the reason on a machine without a CUDA GPU (tests/gpu/conftest.py).
Tolerances are those a GPU's own arithmetic needs (TF32 convolutions, other summation
orders, fp16), not looser: where a half-precision path should meet the renderer's error
budget, the test holds it to that budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.clip import ClipSpec, load_clip
from engine.cppn.model import CPPN
from engine.cppn.train import Prompt, TrainConfig, Trainer
from engine.errors import SonolumeError
from engine.reactive import FrameParams
from engine.render import TorchRenderer, make_renderer
from engine.render.bf16 import frame_error
from engine.render.factory import FAST_BUDGET, choose_precision

BUNNY = Path(__file__).parents[1] / "data" / "bunny-16f-64x128.mp4"  # 16 frames, committed
MOVED = dict(zoom=1.3, rotation=0.6, warp=0.2, warp_phase=0.9, hue=0.2, brightness=1.1)


def moved(extra_inputs: int) -> FrameParams:
    rng = np.random.default_rng(1)
    return FrameParams(extras=rng.normal(0, 0.5, extra_inputs).astype(np.float32), **MOVED)


@pytest.fixture(scope="module")
def clips(cuda, tiny_clip_config):
    spec = ClipSpec(config=str(tiny_clip_config))
    return {d: load_clip(spec, device=d, warn=lambda m: None) for d in ("cpu", "cuda")}


def _config(**kw) -> TrainConfig:
    return TrainConfig.from_preset("standard", [Prompt("neon jellyfish")],
                                   schedule=[(3, 64), (2, 96)], cutouts=2, compile=False, **kw)


# -- training --------------------------------------------------------------------------------


def test_training_on_cuda_follows_the_cpu_run(clips, tmp_path):
    runs = {}
    for dev in ("cpu", "cuda"):
        trainer = Trainer(_config(), clips[dev], tmp_path / dev, device=dev)
        assert next(trainer.cppn.parameters()).device.type == dev
        runs[dev] = trainer.run()
    cpu, gpu = runs["cpu"], runs["cuda"]
    # the same random choices (CPU generators) and the same maths, up to GPU rounding
    for a, b in zip(cpu.history, gpu.history, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], abs=2e-3)
    assert gpu.score == pytest.approx(cpu.score, abs=5e-3)
    # the result is a host-side network, ready for the library and the renderers
    assert all(p.device.type == "cpu" for p in gpu.cppn.parameters())
    assert gpu.thumbnail.shape == (256, 256, 3)
    # Adam moves a weight by at most ~lr (1e-3) a step, whatever the gradient's size, so
    # rounding can part the two runs by 2 x lr x steps at most
    for pa, pb in zip(cpu.cppn.parameters(), gpu.cppn.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=2 * 1e-3 * len(cpu.history))


def test_a_cuda_run_resumes_on_the_cpu(clips, tmp_path):
    cfg = _config()
    first = Trainer(cfg, clips["cuda"], tmp_path / "run", device="cuda")
    first.step()
    first.step()
    first.save_checkpoint()
    resumed = Trainer.resume(tmp_path / "run", clips["cpu"])
    assert resumed.iteration == 2 and resumed.device.type == "cpu"
    for a, b in zip(first.cppn.parameters(), resumed.cppn.parameters(), strict=True):
        assert torch.equal(a.detach().cpu(), b.detach())
    assert resumed.run().cppn is not None


def test_clip_in_bf16_trains_close_to_fp32(clips):
    if not torch.cuda.is_bf16_supported():
        pytest.skip(f"{torch.cuda.get_device_name()} has no bf16")
    fp32 = Trainer(_config(), clips["cuda"], device="cuda").run()
    bf16 = Trainer(_config(), clips["cuda"], device="cuda", clip_precision="bf16").run()
    assert all(np.isfinite(h["loss"]) for h in bf16.history)
    assert bf16.history[-1]["loss"] == pytest.approx(fp32.history[-1]["loss"], abs=0.03)


@pytest.mark.timeout(600)
def test_compiled_training_on_cuda(clips):
    """The `standard` preset compiles the CPPN and CLIP's image tower (inductor + triton on
    a GPU); it must compile there, not fall back to eager."""
    cfg = TrainConfig.from_preset("standard", [Prompt("neon jellyfish")],
                                  schedule=[(2, 64)], cutouts=2)
    assert cfg.compile
    trainer = Trainer(cfg, clips["cuda"], device="cuda")
    result = trainer.run()
    assert trainer.compile_fallback is None
    assert all(np.isfinite(h["loss"]) for h in result.history)


def test_trainer_refuses_clip_on_another_device(clips):
    with pytest.raises(SonolumeError, match="load_clip"):
        Trainer(_config(), clips["cpu"], device="cuda")


# -- rendering -------------------------------------------------------------------------------


def test_cuda_fp32_renderer_matches_the_cpu(cuda):
    cppn = CPPN(seed=5)
    p = moved(9)
    cpu = TorchRenderer(cppn, device="cpu").render(p, 321, 181)
    gpu = TorchRenderer(cppn, device="cuda", dtype=torch.float32).render(p, 321, 181)
    err = frame_error(gpu, cpu)
    assert err.max <= 2 and err.p999 <= 1, err


def test_cuda_fp16_default_stays_within_the_fast_budget(cuda):
    """fp16 is what a CUDA TorchRenderer draws in unless told otherwise (and what the
    factory's 'auto' precision keeps on a GPU), so it must meet the preview/fast budget."""
    cppn = CPPN(seed=5)
    r = TorchRenderer(cppn, device=cuda)
    assert r.dtype == torch.float16
    assert choose_precision(cppn, cuda).dtype == torch.float16
    p = moved(9)
    ref = TorchRenderer(cppn, device=cuda, dtype=torch.float32).render(p, 640, 360)
    err = frame_error(r.render(p, 640, 360), ref)
    assert FAST_BUDGET.admits(err), err


def test_standard_export_on_cuda_keeps_the_strict_budget(cuda):
    """`standard`/`high` exports ask for precision "auto" with STRICT_BUDGET: whatever the
    factory picks on a GPU must draw within that budget of fp32 (issue 14: they stay fp32
    unless the budget holds)."""
    from engine.render.factory import QUALITY_BUDGETS, STRICT_BUDGET

    cppn = CPPN(seed=5)
    p = moved(9)
    ref = TorchRenderer(cppn, device=cuda, dtype=torch.float32).render(p, 640, 360)
    r = make_renderer(cppn, "torch", device="cuda", precision="auto",
                      budget=QUALITY_BUDGETS["standard"])
    err = frame_error(r.render(p, 640, 360), ref)
    assert STRICT_BUDGET.admits(err), (r.description, err)


def test_cuda_bf16_renderer_draws(cuda):
    if not torch.cuda.is_bf16_supported():
        pytest.skip(f"{torch.cuda.get_device_name()} has no bf16")
    cppn = CPPN(seed=5)
    p = moved(9)
    ref = TorchRenderer(cppn, device=cuda, dtype=torch.float32).render(p, 320, 180)
    img = TorchRenderer(cppn, device=cuda, dtype=torch.bfloat16).render(p, 320, 180)
    err = frame_error(img, ref)
    # 8 mantissa bits through four sine layers: a few steps of 255 on average, no more
    assert err.mean <= 4, err


def test_factory_puts_torch_on_cuda(cuda):
    cppn = CPPN(seed=2)
    r = make_renderer(cppn, "torch", device="cuda", precision="auto")
    assert r.device.type == "cuda" and "cuda" in r.description
    auto = make_renderer(cppn, "auto", device="cuda")
    assert auto.render(FrameParams.neutral(9), 64, 36).shape == (36, 64, 3)
    auto.release()


def test_gl_renderer_on_a_real_gpu(cuda):
    from engine.render import GLUnavailable
    from engine.render.gl_renderer import GLRenderer

    cppn = CPPN(seed=4)
    try:
        gl = GLRenderer(cppn)
    except GLUnavailable as exc:
        pytest.skip(f"no headless EGL context on this GPU machine: {exc}")
    try:
        if any(k in gl.description.lower() for k in ("llvmpipe", "softpipe", "swrast")):
            pytest.skip(f"EGL gives Mesa's software renderer here ({gl.description}), "
                        "not the GPU: install the GPU driver's EGL (libEGL_nvidia)")
        p = moved(9)
        ref = TorchRenderer(cppn, device="cpu").render(p, 320, 180)
        err = frame_error(gl.render(p, 320, 180), ref)
        assert err.max <= 2, (gl.description, err)
        big = gl.render(p, 1920, 1080)
        assert big.shape == (1080, 1920, 3) and big.std() > 1
    finally:
        gl.release()


# -- export ----------------------------------------------------------------------------------


def test_export_draws_on_cuda(cuda, tmp_path):
    import soundfile as sf

    from engine.export import ExportRequest, export
    from engine.scene import Scene

    sr = 22050
    t = np.arange(sr) / sr
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    scene = Scene.single(CPPN(seed=1), preset="punchy", track=tmp_path / "tone.wav")
    res = export(ExportRequest(scene, tmp_path / "out.mp4", size=(320, 180), fps=30.0,
                               quality="standard", renderer="torch", device="cuda"))
    assert "cuda" in res.renderer and res.frames == 30
    assert (tmp_path / "out.mp4").stat().st_size > 1000


# -- NeRV ------------------------------------------------------------------------------------


def test_nerv_models_run_on_cuda_as_on_the_cpu(cuda):
    """Both models' forward and backward on the GPU agree with the CPU. NeRV's positional
    encoding must be built on the device of the frame times it is given."""
    from engine.nerv.models import create_model

    for kind in ("nerv", "hnerv"):
        torch.manual_seed(0)
        model = create_model(kind, (32, 64), 0, "none", None, 4, target_params=30_000)
        frames = torch.rand(2, 3, 32, 64)
        times = torch.tensor([0.0, 0.5])
        kw = {"times": times} if kind == "nerv" else {"frames": frames}
        ref = model(**kw)["rgb"]
        model.to(cuda)
        out = model(**{k: v.to(cuda) for k, v in kw.items()})["rgb"]
        assert torch.allclose(out.cpu(), ref, atol=2e-3), kind
        out.mean().backward()
        assert all(p.grad is None or p.grad.device.type == "cuda" for p in model.parameters())


@pytest.mark.parametrize("kind,head", [("nerv", "none"), ("hnerv", "none"),
                                       ("hnerv", "spatial")])
def test_nerv_trainer_trains_on_cuda(cuda, kind, head, tmp_path, tiny_clip_config):
    """NervTrainer(device="cuda") keeps everything a step touches on the GPU (with a
    spatial CLIP head and the sequence loss too, its targets computed by a CLIP on the
    GPU), follows the CPU run's losses up to GPU rounding, and its checkpoint resumes on
    the CPU."""
    from engine.nerv.train import NervTrainConfig, NervTrainer, device_choices

    assert device_choices()[0][0] == "cuda"  # the app's device combo offers the GPU first
    extra = {} if head == "none" else dict(sequence_weight=0.3, neighbour_weight=0.1,
                                           split="4_4_5", batch_size=4)
    cfg = NervTrainConfig(**{**dict(video=str(BUNNY), size=(32, 64), split="all",
                                    model=kind, target_params=30_000, clip_head=head,
                                    epochs=3, batch_size=2, lr=1e-3, pixel_loss="l2"),
                             **extra})
    spec = ClipSpec(config=str(tiny_clip_config)) if head != "none" else None
    cpu = NervTrainer(cfg, clip_spec=spec, cache_dir=tmp_path / "cpu-cache", log=None,
                      device="cpu").run()
    trainer = NervTrainer(cfg, clip_spec=spec, cache_dir=tmp_path / "cuda-cache", log=None,
                          device="cuda", run_dir=tmp_path / "run")
    assert next(trainer.model.parameters()).device.type == "cuda"
    assert trainer.frames.device.type == trainer.times.device.type == "cuda"
    assert all(t.device.type == "cuda" for t in trainer.targets.values())
    if head != "none":
        assert trainer.clip().device.type == "cuda"  # the targets were computed there
        assert next(trainer.sequence.parameters()).device.type == "cuda"
    result = trainer.run()
    assert all(s.device.type == "cuda" for st in trainer.optimizer.state.values()
               for s in st.values() if isinstance(s, torch.Tensor) and s.dim())
    assert result.evals and result.evals[-1]["psnr_train"] > 10
    for a, b in zip(cpu.history, result.history, strict=True):
        assert b["pixel_loss"] == pytest.approx(a["pixel_loss"], rel=0.05, abs=1e-3)
    recon = trainer.reconstruction(0)
    assert recon.shape == (32, 64, 3) and recon.dtype == np.uint8
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["device"]["type"] == "cuda"
    # the checkpoint is device-free: it continues on the CPU, from the same weights
    resumed = NervTrainer.resume(tmp_path / "run", epochs=4, device="cpu", log=None,
                                 clip_spec=spec)
    assert resumed.device.type == "cpu" and resumed.epoch == 3
    for a, b in zip(trainer.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a.detach().cpu(), b.detach())
    assert resumed.run().epochs == 4
    # and back onto the GPU
    again = NervTrainer.resume(tmp_path / "run", epochs=5, device="cuda", log=None,
                               clip_spec=spec)
    assert again.device.type == "cuda" and again.run().epochs == 5
