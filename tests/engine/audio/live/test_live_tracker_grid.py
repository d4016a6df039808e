"""BeatGrid: the immutable copy of the online tracker's grid that another thread reads
(the app's GUI thread, while the audio thread pushes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.audio.live import LiveAnalyzer


def test_the_grid_reads_as_the_tracker_and_does_not_follow_it():
    sr, bpm = 48000, 120.0
    rng = np.random.default_rng(3)
    y = np.zeros(sr * 8, np.float32)
    n = int(0.03 * sr)
    click = (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.004 * sr)) * 0.5)
    for b in np.arange(0.3, 7.9, 60.0 / bpm):
        y[int(b * sr): int(b * sr) + n] += click.astype(np.float32)
    la = LiveAnalyzer(sr, 1)
    la.push(y[: sr * 6])
    tr = la.tracker
    grid = tr.grid()
    assert grid.locked and grid.tempo == pytest.approx(tr.tempo)
    for t in np.linspace(5.0, 9.0, 37):
        assert grid.phase_at(t) == tr.phase_at(t)
    before = (grid.period, grid.anchor)
    la.push(y[sr * 6:])
    assert (grid.period, grid.anchor) == before  # a snapshot: pushing moved the tracker only
    assert tr.anchor != grid.anchor
    with pytest.raises(dataclasses.FrozenInstanceError):
        grid.period = 1.0
    la.tap(7.0)
    la.tap(7.4)
    assert la.tracker.grid().tapped and la.tracker.grid().tempo == pytest.approx(150.0)
