"""The live views' fp32/bf16 choice (engine.render.live_precision): never blocks, says fp32
until a background check has built and measured the real bf16 kernel and checked the
style, then bf16 for styles that pass; fp32 for good without bf16 hardware or when the
environment asks for it."""

import time
from pathlib import Path

import pytest
import torch

from engine.cppn.model import CPPN
from engine.render import factory
from engine.render.bf16 import bf16_hardware
from engine.render.factory import FAST_BUDGET, ErrorBudget, choose_precision
from engine.render.live_precision import LivePrecision
from engine.styles.style import read_style

STYLES = Path(__file__).resolve().parents[3] / "styles"
needs_hw = pytest.mark.skipif(bf16_hardware() is None, reason="this CPU has no bf16 hardware "
                              "(AMX-BF16 or AVX512-BF16): live views stay fp32 here")
NOTHING_PASSES = ErrorBudget(p999=-1.0, max=-1.0, shift=-1.0)


@pytest.fixture
def style():
    return read_style(STYLES / "seeded-pattern-02-deep-ocean-swirl").load_cppn()


@needs_hw
def test_fp32_until_checked_then_bf16(style):
    live = LivePrecision()
    try:
        t = time.perf_counter()
        assert live.allows([style]) is False  # queued, not waited for
        assert time.perf_counter() - t < 0.05
        assert live.state == "checking"
        assert live.wait_idle(120)
        assert live.allows([style]) is True
        assert live.state == "bf16"
        v = live.verdict(style)
        assert v.dtype == torch.bfloat16 and FAST_BUDGET.admits(v.error) and v.speedup >= 1.3
        other = CPPN(seed=5)
        assert live.allows([style, other]) is False  # a transition waits for both
        assert live.wait_idle(60) and live.allows([style, other]) is True
    finally:
        live.close()


@needs_hw
def test_a_style_outside_the_budget_stays_fp32(style):
    live = LivePrecision(budget=NOTHING_PASSES)
    try:
        live.allows([style])
        assert live.wait_idle(120)
        assert live.allows([style]) is False
        assert "error budget" in live.reason and live.state == "fp32"
    finally:
        live.close()


@needs_hw
def test_the_real_kernel_is_what_the_factory_picks(style):
    choice = choose_precision(style, "cpu", min_speedup=0.0)
    assert choice.dtype == torch.bfloat16
    from engine.render import amx

    kernel = "amx" if amx.unavailable_reason() is None else "inductor"
    assert f"({kernel} kernel)" in choice.reason


def test_no_hardware_or_forced_fp32_never_starts_a_check(monkeypatch, style):
    live = LivePrecision(hardware=lambda: None)
    assert live.disabled and "no bf16 hardware" in live.reason
    assert live.allows([style]) is False and live._thread is None and live.state == "fp32"
    monkeypatch.setenv(factory.PRECISION_ENV, "fp32")
    forced = LivePrecision(hardware=lambda: "AMX-BF16")
    assert forced.allows([style]) is False and forced._thread is None
    assert "SONOLUME_PRECISION=fp32" in forced.reason
    assert choose_precision(style, "cpu").reason == "fp32: forced by SONOLUME_PRECISION=fp32"
    monkeypatch.setenv(factory.PRECISION_ENV, "bogus")  # reported, then ignored
    assert factory.forced_fp32() is None


@needs_hw
def test_the_strict_budget_picks_bf16x3_where_the_amx_kernel_runs(style):
    """standard/high: plain bf16 misses the GL-vs-torch tolerance on this style, the split
    products meet it; without the AMX kernel that means fp32."""
    from engine.render import amx
    from engine.render.factory import STRICT_BUDGET, make_renderer

    choice = choose_precision(style, "cpu", STRICT_BUDGET, min_speedup=0.0)
    if amx.unavailable_reason() is None:
        assert choice.variant == "bf16x3" and choice.dtype == torch.bfloat16
        assert "bf16 misses the error budget" not in choice.reason  # refusals stay quiet
        assert STRICT_BUDGET.admits(choice.error)
        r = make_renderer(style, "torch", device="cpu", precision="auto", budget=STRICT_BUDGET)
        assert r.bf16x3 and "bf16x3" in r.description
    else:
        assert choice.variant == "fp32" and "bf16x3 needs the AMX kernel" in choice.reason
