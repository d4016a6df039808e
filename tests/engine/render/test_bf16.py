"""The bf16 CPU path: its sine, its error measure, its picture against fp32 on a real
style, and the factory's refusal to use it where it is inaccurate, slow or emulated."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.reactive import FrameParams
from engine.render import RenderError, TorchRenderer, make_renderer
from engine.render import factory as factory_mod
from engine.render.bf16 import bf16_hardware, fast_sin, frame_error
from engine.render.factory import (
    FAST_BUDGET,
    QUALITY_BUDGETS,
    STRICT_BUDGET,
    ErrorBudget,
    choose_precision,
)
from engine.styles.style import read_style

STYLES = Path(__file__).resolve().parents[3] / "styles"
HW = bf16_hardware()
needs_hw = pytest.mark.skipif(HW is None, reason="this CPU has no bf16 hardware (AMX-BF16 or "
                              "AVX512-BF16): the compiled bf16 path is never chosen here")
NOTHING_PASSES = ErrorBudget(p999=-1.0, max=-1.0, shift=-1.0)


def moved(extra_inputs: int) -> FrameParams:
    extras = np.linspace(-0.6, 0.6, extra_inputs).astype(np.float32)
    return FrameParams(extras=extras, zoom=1.3, rotation=0.7, warp=0.2, warp_phase=0.9,
                       hue=0.1, brightness=1.1)


@pytest.fixture(scope="module")
def style_cppn():
    """A real bundled style (its weights, not a fresh random network)."""
    return read_style(STYLES / "seeded-pattern-02-deep-ocean-swirl").load_cppn()


def test_fast_sine_is_accurate_over_the_range_a_cppn_uses():
    z = torch.linspace(-60.0, 60.0, 200_001)
    err = (fast_sin(z).double() - torch.sin(z.double())).abs().max().item()
    assert err < 3e-5  # bf16 stores activations to 2^-9 ~ 2e-3: the sine is not the error
    assert fast_sin(torch.tensor([0.0, math.pi / 2, -math.pi])).tolist() == pytest.approx(
        [0.0, 1.0, 0.0], abs=1e-5)


def test_frame_error_measures_what_it_says():
    ref = np.full((32, 32, 3), 100, np.uint8)
    img = ref.copy()
    img[:16, :16, 0] += 2  # a 2/255 drift over one whole block
    img[20, 20, 1] += 9  # one bad pixel: a false step on each side of it
    e = frame_error(img, ref)
    assert e.max == 9 and e.shift == pytest.approx(2.0) and e.p999 >= 2
    assert e.steps == pytest.approx(4 / (2 * 31 * 32 * 3))
    assert FAST_BUDGET.admits(e) and not STRICT_BUDGET.admits(e)
    with pytest.raises(ValueError, match="shape"):
        frame_error(img[:8], ref)


def test_bf16_maths_stays_close_to_fp32_even_uncompiled(style_cppn):
    """The eager run of the same maths (runs on any CPU, emulated where need be)."""
    p = moved(9)
    ref = TorchRenderer(style_cppn).render(p, 48, 27)
    img = TorchRenderer(style_cppn, dtype=torch.bfloat16, compile=False).render(p, 48, 27)
    assert img.shape == ref.shape and img.dtype == np.uint8
    assert FAST_BUDGET.admits(frame_error(img, ref))


@needs_hw
def test_compiled_bf16_frame_is_within_budget_of_fp32_on_a_real_style(style_cppn):
    p = moved(9)
    fast = TorchRenderer(style_cppn, dtype=torch.bfloat16)
    assert "fused" in fast.description
    ref = TorchRenderer(style_cppn).render(p, 160, 90)
    img = fast.render(p, 160, 90)  # compiles on first use (cached on disk afterwards)
    err = frame_error(img, ref)
    assert FAST_BUDGET.admits(err), err
    assert err.p999 <= 4 and err.steps < 0.01
    # the uncompiled maths rounds each matmul's result to bf16; the compiled kernel keeps
    # it fp32 into the sine, so it must be at least as close to fp32
    eager = TorchRenderer(style_cppn, dtype=torch.bfloat16, compile=False).render(p, 160, 90)
    assert np.abs(img.astype(int) - eager).max() <= 6
    assert err.mean <= frame_error(eager, ref).mean
    flt = fast.render_float(p, 160, 90)
    assert flt.shape == (160 * 90, 3) and flt.dtype == torch.float32
    assert float(flt.min()) >= 0.0 and float(flt.max()) <= 1.0


def test_no_bf16_hardware_means_fp32(monkeypatch, style_cppn):
    choice = choose_precision(style_cppn, "cpu", hardware=lambda: None)
    assert choice.dtype == torch.float32 and "no bf16 hardware" in choice.reason
    monkeypatch.setattr(factory_mod, "bf16_hardware", lambda: None)
    with pytest.raises(RenderError, match="AMX-BF16 or AVX512-BF16"):
        make_renderer(style_cppn, "torch", device="cpu", precision="bf16")
    with pytest.raises(RenderError, match="unknown precision"):
        make_renderer(style_cppn, "torch", device="cpu", precision="fp8")
    assert make_renderer(style_cppn, "torch", device="cpu").dtype == torch.float32


@needs_hw
def test_selection_refuses_bf16_when_accuracy_or_speed_falls_short(style_cppn):
    bad = choose_precision(style_cppn, "cpu", budget=NOTHING_PASSES)
    assert bad.dtype == torch.float32 and "error budget" in bad.reason
    assert bad.error is not None and bad.speedup is None  # refused before any timing
    slow = choose_precision(style_cppn, "cpu", min_speedup=1000.0)
    assert slow.dtype == torch.float32 and "faster here (needs 1000x)" in slow.reason
    ok = choose_precision(style_cppn, "cpu", min_speedup=0.0)
    assert ok.dtype == torch.bfloat16 and HW in ok.reason
    assert FAST_BUDGET.admits(ok.error) and ok.speedup > 0
    # standard/high hold bf16 to the GL-vs-torch tolerance; the error here exceeds it
    assert QUALITY_BUDGETS["standard"] is STRICT_BUDGET
    assert not STRICT_BUDGET.admits(ok.error)


@needs_hw
def test_factory_auto_precision_draws(style_cppn):
    r = make_renderer(style_cppn, "torch", device="cpu", precision="auto")
    assert r.dtype in (torch.float32, torch.bfloat16)  # bf16 unless this run was too busy
    ref = TorchRenderer(style_cppn).render(moved(9), 40, 24)
    assert FAST_BUDGET.admits(frame_error(r.render(moved(9), 40, 24), ref))
