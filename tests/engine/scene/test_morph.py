"""Morph smoothness: styles fine-tuned from the shared base morph smoothly, the same fits
from independent starts are flagged, and a show crossfades a pair that is not smooth."""

import math

import numpy as np
import pytest
import torch
from conftest import make_features, make_structure

from engine.cppn.base import BASE_ID, base_cppn
from engine.cppn.model import CPPN, CPPNConfig, coordinate_grid
from engine.scene import Scene, Segment, Transition
from engine.scene import morph as morph_mod
from engine.scene.morph import (
    SMOOTH_LIMIT,
    can_morph,
    measure,
    morph_cppn,
    morph_fallback,
    morph_network,
    render_weights,
    shared_base,
    smoothness,
    style_base,
)
from engine.scene.timing import BeatGrid

SIZE = 24


def _targets():
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE * 2.0 - 1.0
    rings = np.stack([0.5 + 0.5 * np.sin(12 * np.hypot(xx, yy)), 0.5 + 0.5 * np.sin(5 * xx),
                      0.3 + 0 * xx], -1)
    bars = np.stack([0.2 + 0 * xx, 0.5 + 0.5 * np.sign(np.sin(7 * yy)),
                     0.5 + 0.5 * np.cos(4 * (xx + yy))], -1)
    return [torch.from_numpy(t.astype(np.float32)).reshape(-1, 3) for t in (rings, bars)]


def _fit(net, target, steps=60):
    """What training does to a start, with a picture instead of CLIP: Adam at the trainer's
    learning rate moves every weight about as far per step whatever the loss."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    grid = coordinate_grid(SIZE, SIZE, None, net.config.extra_inputs)
    for _ in range(steps):
        loss = ((net(grid) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def fits():
    rings, bars = _targets()
    return {"shared": (_fit(base_cppn(), rings), _fit(base_cppn(), bars)),
            "independent": (_fit(CPPN(seed=11), rings), _fit(CPPN(seed=12), bars))}


def test_shared_base_fits_morph_smoothly_and_independent_ones_are_flagged(fits):
    a, b = fits["shared"]
    assert can_morph(a, b)
    s = measure(a, b)
    # measured 1.5 (bench/morph.py: 1.3-1.8 for photographs); a straight walk is ~1
    assert s.smooth and s.ratio < 2.5
    assert morph_fallback(a, b) is None
    # the fits really differ: the morph has somewhere to go
    assert s.crossfade_step * s.steps > 0.05
    c, d = fits["independent"]
    assert can_morph(c, d)
    t = measure(c, d)
    assert not t.smooth and t.ratio > SMOOTH_LIMIT + 0.5  # measured 4.8
    assert "do not morph smoothly" in morph_fallback(c, d)


def test_the_middle_of_a_shared_base_morph_keeps_its_contrast(fits):
    """A muddy middle (the issue's complaint) is a flat picture: compare contrast."""
    def middle_contrast(a, b):
        ends = render_weights(a, 32).std() + render_weights(b, 32).std()
        return float(render_weights(morph_cppn(a, b, 0.5), 32).std() / (ends / 2))

    assert middle_contrast(*fits["shared"]) > 0.7
    assert middle_contrast(*fits["independent"]) < middle_contrast(*fits["shared"]) - 0.2


def test_the_check_is_cached_per_pair_and_redone_when_weights_change(fits, monkeypatch):
    a, b = (_fit(base_cppn(), t, steps=5) for t in _targets())
    calls = []
    real = morph_mod.measure
    monkeypatch.setattr(morph_mod, "measure", lambda *x, **k: calls.append(1) or real(*x, **k))
    first = smoothness(a, b)
    assert smoothness(b, a) is first and len(calls) == 1  # either order, one measurement
    with torch.no_grad():
        b.out.bias.add_(0.5)
    smoothness(a, b)
    assert len(calls) == 2


def test_identical_and_odd_pairs():
    a = base_cppn()
    same = CPPN(seed=0)
    assert morph_fallback(a, a) is None
    assert morph_fallback(a, same) is None  # nothing to cross: smooth, not a division by 0
    odd = CPPN(CPPNConfig(hidden=16, layers=2), seed=1)
    assert morph_fallback(a, odd) == "the two styles differ in shape"


def test_morph_network_is_the_interpolated_cppn(fits):
    a, b = fits["shared"]
    net = morph_network(a, b, 0.25)
    assert isinstance(net, CPPN)
    want = render_weights(morph_cppn(a, b, 0.25), 16).t().reshape(3, 16, 16)
    assert torch.allclose(net.render(16, 16), want, atol=1e-5)
    assert torch.equal(morph_network(a, b, 0.0).out.weight, a.out.weight)


def test_style_base_reads_the_recorded_base():
    class S:
        def __init__(self, meta):
            self.meta = meta

    trained, other = S({"base": BASE_ID}), S({"base": BASE_ID})
    assert style_base(trained) == BASE_ID and shared_base(trained, other) == BASE_ID
    assert style_base(S({})) is None and style_base(S({"base": 3})) is None
    assert shared_base(trained, S({"base": None})) is None
    assert style_base(base_cppn()) is None  # a bare network records nothing


def _show(pair, kind="morph"):
    feats = make_features(8.0)
    structure = make_structure(feats)
    grid = BeatGrid.build(feats, structure)
    cut = float(grid.downbeats[2])
    segs = [Segment("a", 0.0, cut), Segment("b", cut, math.inf)]
    return Scene(dict(zip("ab", pair)), segs, [Transition(kind, 2)], features=feats,
                 structure=structure)


def test_a_show_morphs_smooth_pairs_and_crossfades_the_others(fits):
    smooth = _show(fits["shared"])
    (w,) = smooth.windows()
    assert w.transition.kind == "morph" and w.note == ""
    assert smooth.frame_at((w.start + w.end) / 2).mode == "morph"
    rough = _show(fits["independent"])
    (w,) = rough.windows()
    assert w.transition == Transition("crossfade", 2)
    assert "do not morph smoothly" in w.note and "crossfade instead of morph" in w.note
    assert rough.frame_at((w.start + w.end) / 2).mode == "crossfade"
    assert any("do not morph smoothly" in line for line in rough.describe())
