"""The fused AMX kernel (engine.render.amx): the same picture as the bf16 reference maths and
within the preview's budget of fp32, for odd sizes and network shapes, on any thread
count; its weight layout; and the renderer's fallback where it cannot run."""

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cppn.model import CPPN, CPPNConfig
from engine.reactive import FrameParams
from engine.render import TorchRenderer, amx
from engine.render.bf16 import frame_error
from engine.render.factory import FAST_BUDGET
from engine.styles.style import read_style

STYLES = Path(__file__).resolve().parents[3] / "styles"
WHY_NOT = amx.unavailable_reason()
needs_amx = pytest.mark.skipif(WHY_NOT is not None,
                               reason=f"the AMX kernel cannot run here: {WHY_NOT}")


def moved(extra_inputs: int, warp: float = 0.2) -> FrameParams:
    extras = np.linspace(-0.6, 0.6, extra_inputs).astype(np.float32)
    return FrameParams(extras=extras, zoom=1.3, rotation=0.7, warp=warp, warp_phase=0.9,
                       hue=0.1, brightness=1.1)


def test_packed_weights_put_each_k_pair_where_the_tile_reads_it():
    """Tile (nt, ks), row r, column c holds W[32 ks + 2 r + p, 16 nt + c] at 2 c + p."""
    k, n, hp, cols = 40, 20, 64, 32
    w = (np.arange(k * n, dtype=np.float32).reshape(k, n) % 97) / 4  # exact in bf16
    packed = amx.pack_weights(w, hp, cols).reshape(cols // 16, hp // 32, 16, 32)
    padded = np.zeros((hp, cols), np.float32)
    padded[:k, :n] = w
    bits = (packed.astype(np.uint32) << 16).view(np.float32)
    for nt, ks, r, c, p in [(0, 0, 0, 0, 0), (0, 0, 0, 0, 1), (1, 0, 5, 3, 1), (1, 1, 15, 15, 0),
                            (0, 1, 3, 9, 1)]:
        assert bits[nt, ks, r, 2 * c + p] == padded[32 * ks + 2 * r + p, 16 * nt + c]


@needs_amx
@pytest.mark.parametrize("config,size,warp", [
    (None, (37, 23), 0.2),  # the default shape; a frame that is not whole 32-pixel blocks
    (CPPNConfig(hidden=40, layers=2, extra_inputs=3), (64, 48), 0.0),  # padded width, no warp
    (CPPNConfig(hidden=96, layers=1, extra_inputs=0), (33, 1), 0.1),  # no hidden matmul
])
def test_kernel_draws_the_reference_maths(config, size, warp):
    cppn = CPPN(config, seed=3)
    p = moved(cppn.config.extra_inputs, warp)
    fast = TorchRenderer(cppn, dtype=torch.bfloat16)
    assert fast.kernel == "amx" and "AMX" in fast.description
    img = fast.render(p, *size)
    eager = TorchRenderer(cppn, dtype=torch.bfloat16, compile=False).render(p, *size)
    ref = TorchRenderer(cppn).render(p, *size)
    assert img.shape == ref.shape == (size[1], size[0], 3) and img.dtype == np.uint8
    # the reference rounds each matmul result to bf16, the kernel keeps it fp32 into the
    # sine: a step or two apart, and the kernel no further from fp32 than the reference
    assert np.abs(img.astype(int) - eager).max() <= 4
    err = frame_error(img, ref)
    assert FAST_BUDGET.admits(err), err
    assert err.mean <= frame_error(eager, ref).mean + 0.05
    flt = fast.render_float(p, *size).numpy()
    assert flt.shape == (size[0] * size[1], 3) and flt.dtype == np.float32
    assert np.abs(flt * 255 + 0.5 - img.reshape(-1, 3) - 0.5).max() <= 1.0


@needs_amx
def test_threads_split_one_frame_into_the_same_picture():
    style = read_style(STYLES / "seeded-pattern-08-ice-marble").load_cppn()
    p = moved(style.config.extra_inputs)
    fast = TorchRenderer(style, dtype=torch.bfloat16)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fast.render(p, 320, 180)
        torch.set_num_threads(3)  # more threads than jobs per core: any split, same pixels
        three = fast.render(p, 320, 180)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, three)


@needs_amx
def test_kernel_is_several_times_cheaper_than_fp32():
    """CPU seconds of one single-threaded frame each (best of 3): the kernel's point."""
    import time

    cppn = CPPN(seed=1)
    p = moved(9)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        best = {}
        for name, r in (("fp32", TorchRenderer(cppn)),
                        ("bf16", TorchRenderer(cppn, dtype=torch.bfloat16))):
            r.render(p, 320, 180)
            t = float("inf")
            for _ in range(3):
                c = time.thread_time()
                r.render(p, 320, 180)
                t = min(t, time.thread_time() - c)
            best[name] = t
    finally:
        torch.set_num_threads(threads)
    assert best["fp32"] / best["bf16"] > 3.0, best


def test_without_the_kernel_bf16_falls_back_to_inductor_or_says_why(monkeypatch):
    """Where the kernel cannot load (no AMX, no compiler) the bf16 renderer keeps the
    inductor path; the reason is kept for the log."""
    monkeypatch.setattr(amx, "_lib", None)
    monkeypatch.setattr(amx, "_why_not", None)
    monkeypatch.setattr(amx, "_compiler", lambda: None)
    reason = amx.unavailable_reason()
    if amx._cpu_has_amx():
        assert reason == "no C compiler (gcc, cc or clang) on PATH"
    else:
        assert reason == "this CPU has no AMX-BF16"
    r = TorchRenderer(CPPN(seed=0), dtype=torch.bfloat16, compile=True)
    assert r.kernel == "inductor" and "inductor" in r.description


@needs_amx
def test_bf16x3_draws_fp32s_picture_within_the_strict_budget():
    """Three bf16 products per matmul: what standard/high exports may use."""
    from engine.render.factory import STRICT_BUDGET

    style = read_style(STYLES / "seeded-pattern-02-deep-ocean-swirl").load_cppn()
    p = moved(style.config.extra_inputs)
    ref = TorchRenderer(style).render(p, 320, 180)
    fast = TorchRenderer(style, dtype=torch.bfloat16).render(p, 320, 180)
    x3r = TorchRenderer(style, dtype=torch.bfloat16, bf16x3=True)
    assert "bf16x3" in x3r.description
    x3 = x3r.render(p, 320, 180)
    err, err_fast = frame_error(x3, ref), frame_error(fast, ref)
    assert STRICT_BUDGET.admits(err) and err.max <= 1 and err.shift < 0.1, err
    assert not STRICT_BUDGET.admits(err_fast)  # why plain bf16 is not enough there
    assert err.mean < err_fast.mean / 4


def test_bf16x3_is_only_a_mode_of_the_amx_kernel():
    from engine.render import RenderError

    with pytest.raises(RenderError, match="mode of the compiled AMX kernel"):
        TorchRenderer(CPPN(seed=0), bf16x3=True)
    with pytest.raises(RenderError, match="mode of the compiled AMX kernel"):
        TorchRenderer(CPPN(seed=0), dtype=torch.bfloat16, compile=False, bf16x3=True)
