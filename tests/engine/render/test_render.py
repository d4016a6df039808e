import numpy as np
import pytest
import torch

from engine.cppn.model import CPPN, CPPNConfig, to_uint8
from engine.reactive import FrameParams
from engine.render import (
    GLUnavailable,
    RenderError,
    TorchRenderer,
    make_renderer,
    pack_weights,
    window_for,
)
from engine.render import factory as factory_mod
from engine.render.base import Weights

MOVED = dict(zoom=1.4, rotation=0.8, warp=0.25, warp_phase=1.1, hue=0.3, brightness=1.2)


def moved(extra_inputs: int, seed: int = 0) -> FrameParams:
    rng = np.random.default_rng(seed)
    return FrameParams(extras=rng.normal(0, 0.5, extra_inputs).astype(np.float32), **MOVED)


@pytest.fixture(scope="module")
def gl_ctx():
    from engine.render import create_headless_context

    try:
        ctx = create_headless_context()
    except GLUnavailable as exc:
        pytest.skip(f"no headless EGL OpenGL context on this machine: {exc}")
    yield ctx
    ctx.release()


def test_torch_renderer_matches_the_model():
    cppn = CPPN(seed=3)
    r = TorchRenderer(cppn, chunk=500)  # several chunks, a ragged last one
    img = r.render(FrameParams.neutral(9), 45, 31)
    assert img.shape == (31, 45, 3) and img.dtype == np.uint8
    assert np.array_equal(img, to_uint8(cppn.render(45, 31)))
    # extras fold into the first bias exactly as feeding them as inputs
    e = np.linspace(-1, 1, 9).astype(np.float32)
    ref = to_uint8(cppn.render(45, 31, extras=torch.from_numpy(e)))
    assert np.abs(r.render(FrameParams(extras=e), 45, 31).astype(int) - ref).max() <= 1


def test_post_effects_do_what_they_say():
    cppn = CPPN(seed=5)
    r = TorchRenderer(cppn)
    base = r.render(FrameParams.neutral(9), 32, 32).astype(float)
    dark = r.render(FrameParams(extras=np.zeros(9, np.float32), brightness=0.5), 32, 32)
    assert abs(dark.mean() - base.mean() / 2) < 1.0
    turned = r.render(FrameParams(extras=np.zeros(9, np.float32), hue=1 / 3), 32, 32)
    assert np.abs(turned.astype(float) - np.roll(base, 1, axis=2)).max() <= 2  # R->G->B
    zoomed = r.render(FrameParams(extras=np.zeros(9, np.float32), zoom=2.0), 32, 32)
    centre = r.render(FrameParams.neutral(9), 64, 64)[16:48, 16:48]
    assert np.abs(zoomed.astype(int) - centre).max() <= 1  # zoom 2 = the middle, doubled
    half = r.render(FrameParams(extras=np.zeros(9, np.float32), rotation=np.pi), 32, 32)
    assert np.abs(half.astype(int) - base[::-1, ::-1]).max() <= 1  # half a turn


def test_fp16_stays_close_to_fp32():
    cppn = CPPN(seed=4)
    p = moved(9)
    a = TorchRenderer(cppn).render(p, 48, 27).astype(int)
    b = TorchRenderer(cppn, dtype=torch.float16).render(p, 48, 27).astype(int)
    assert np.abs(a - b).max() <= 4 and np.abs(a - b).mean() < 0.5


@pytest.mark.parametrize("config", [CPPNConfig(), CPPNConfig(hidden=22, layers=2,
                                                             extra_inputs=0),
                                    CPPNConfig(hidden=16, layers=5, extra_inputs=6)])
def test_gl_and_torch_agree_within_2_of_255(gl_ctx, config):
    from engine.render import GLRenderer

    cppn = CPPN(config, seed=7)
    gl = GLRenderer(cppn, ctx=gl_ctx)
    tr = TorchRenderer(cppn)
    for params in (FrameParams.neutral(config.extra_inputs), moved(config.extra_inputs, 1)):
        for size in ((64, 36), (37, 53)):
            a, b = gl.render(params, *size), tr.render(params, *size)
            assert a.shape == b.shape == (size[1], size[0], 3)
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
    gl.release()


def test_gl_switches_styles_and_draws_into_a_given_framebuffer(gl_ctx):
    from engine.render import GLRenderer

    a, b = CPPN(seed=1), CPPN(CPPNConfig(hidden=64), seed=2)
    gl = GLRenderer(a, ctx=gl_ctx)
    p = moved(9, 3)
    gl.set_cppn(b)  # a different shape: the program is rebuilt
    want = TorchRenderer(b).render(p, 40, 24)
    assert np.abs(gl.render(p, 40, 24).astype(int) - want).max() <= 2
    # As a Qt widget would: draw into someone else's framebuffer at a viewport offset.
    fbo = gl_ctx.simple_framebuffer((60, 40), components=4)
    fbo.use()
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    gl.render_to(fbo, p, 40, 24, origin=(7, 5))
    shot = np.frombuffer(fbo.read(components=3, alignment=1), np.uint8).reshape(40, 60, 3)
    region = shot[5:29, 7:47][::-1]  # bottom-up rows on screen; upright picture
    assert np.abs(region.astype(int) - want).max() <= 2
    assert shot[:5].max() == 0 and shot[:, :7].max() == 0  # nothing outside the viewport
    fbo.release()
    gl.release()
    with pytest.raises(RenderError):
        gl.render(p, 8, 8)


def test_weight_texture_layout_round_trips():
    cppn = CPPN(CPPNConfig(hidden=22, layers=3, extra_inputs=5), seed=0)
    w = Weights.from_cppn(cppn)
    tex, lay = pack_weights(w)
    flat = tex.reshape(tex.shape[0], -1)
    assert lay == {"in4": 2, "hidden4": 6, "layers": 3, "bias_col": 6, "maxv": 6}
    assert np.array_equal(flat[:22, :8], w.hidden[0][0])
    assert np.array_equal(flat[24:46, :22], w.hidden[1][0])
    assert np.array_equal(flat[48:70, 24], w.hidden[2][1])
    assert np.array_equal(flat[72:75, :22], w.out[0])
    assert flat[22:24].max() == 0  # padding rows stay zero


def test_bad_sizes_and_mismatched_extras_are_clear_errors():
    r = TorchRenderer(CPPN(seed=0))
    with pytest.raises(RenderError, match="positive"):
        r.render(FrameParams.neutral(9), 0, 10)
    with pytest.raises(RenderError, match="9 extra inputs"):
        r.render(FrameParams.neutral(4), 8, 8)
    assert window_for(200, 100)[0] == pytest.approx(-np.pi)


def test_factory_picks_and_falls_back(monkeypatch):
    cppn = CPPN(CPPNConfig(hidden=16, layers=2), seed=0)
    assert isinstance(make_renderer(cppn, "torch"), TorchRenderer)
    with pytest.raises(RenderError, match="unknown renderer"):
        make_renderer(cppn, "vulkan")
    auto = make_renderer(cppn, "auto", probe_budget=0.05)
    assert auto.render(FrameParams.neutral(9), 16, 9).shape == (9, 16, 3)
    auto.release()

    from engine.render import gl_renderer

    def no_gl():
        raise GLUnavailable("no EGL here (test)")

    monkeypatch.setattr(gl_renderer, "create_headless_context", no_gl)
    monkeypatch.setattr(factory_mod, "_warned", set())
    said = []
    for _ in range(3):
        r = make_renderer(cppn, "auto", warn=said.append)
        assert isinstance(r, TorchRenderer)
    assert len(said) == 1 and "torch" in said[0] and "no EGL here" in said[0]
    with pytest.raises(GLUnavailable):
        make_renderer(cppn, "gl")
