"""The one-pole follower behind every smoothed feature and reactive target: the linear
(equal rise and fall) path scipy runs must give what the step-by-step definition gives."""

import numpy as np
import pytest

from engine.audio import dsp


def _reference(x, a_att, a_rel, init):
    y = np.array(init, dtype=np.float64)
    out = np.empty_like(x)
    for i, v in enumerate(x):
        y = y + np.where(v > y, a_att, a_rel) * (v - y)
        out[i] = y
    return out


@pytest.mark.parametrize("init", [None, 0.25])
def test_equal_rise_and_fall_matches_the_definition(init):
    rng = np.random.default_rng(3)
    x = rng.random((3000, 6))
    a = np.array([0.1, 0.1, 0.5, 1.0, 0.02, 0.3])
    start = x[0] if init is None else np.full(6, init)
    got = dsp.follow(x, a, a, init=init)
    assert np.abs(got - _reference(x, a, a, start)).max() < 1e-12


def test_unequal_rise_and_fall_still_asymmetric():
    x = np.r_[np.zeros(10), np.ones(10), np.zeros(10)]
    y = dsp.follow(x, 0.5, 0.1)
    assert y[10] == pytest.approx(0.5)  # rises half the way in one step
    assert y[20] == pytest.approx(y[19] * 0.9)  # falls a tenth
    assert np.abs(y - _reference(x[:, None], np.array([0.5]), np.array([0.1]),
                                 np.zeros(1))[:, 0]).max() < 1e-12
