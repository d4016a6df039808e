"""Hand-made features and structures: scene tests need a known beat grid, not analysis."""

import numpy as np
import pytest

from engine.audio.features import AudioFeatures, beat_grid
from engine.audio.structure import Section, Structure
from engine.cppn.model import CPPN, CPPNConfig

FPS = 10.0
TINY = CPPNConfig(hidden=16, layers=2)


def make_features(seconds: float, tempo: float = 120.0, fps: float = FPS, first: float = 0.25,
                  loud=None, seed: int = 0) -> AudioFeatures:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    beats = np.arange(first, seconds, 60.0 / tempo)
    phase, pulse = beat_grid(beats, tempo, n, fps)
    rms = np.full(n, 0.4) if loud is None else np.asarray(loud, np.float64)
    rms = np.clip(rms + 0.01 * rng.standard_normal(n), 0, 1)
    perc = rms * (0.3 + 0.5 * pulse)
    harm = np.sqrt(np.maximum(rms**2 - perc**2, 0))
    chroma = np.abs(rng.standard_normal((n, 12))) * rms[:, None]
    chroma /= np.maximum(chroma.max(axis=1, keepdims=True), 1e-6)
    f32 = np.float32
    return AudioFeatures(
        fps=fps, duration=n / fps, sample_rate=22050, tempo=tempo,
        beat_times=beats.astype(np.float64), rms=rms.astype(f32),
        onset=(pulse * rms).astype(f32), beat_phase=phase, beat_pulse=pulse,
        harmonic=harm.astype(f32), percussive=perc.astype(f32),
        bass=(1 + 0.5 * pulse * rms).astype(f32), mid=np.ones(n, f32),
        treble=np.ones(n, f32), centroid=(0.3 + 0.4 * rms).astype(f32),
        chroma=chroma.astype(f32),
    )


def make_structure(features: AudioFeatures, labels=(), bars_per_section: int = 2,
                   meter: int = 4) -> Structure:
    """Downbeats every ``meter`` beats from the first; sections of ``bars_per_section``
    bars with the given labels (the last runs to the end)."""
    beats = np.asarray(features.beat_times, np.float64)
    downbeats = beats[::meter]
    sections = []
    if labels:
        starts = [0.0] + [float(downbeats[k * bars_per_section])
                          for k in range(1, len(labels))]
        ends = starts[1:] + [float(features.duration)]
        sections = [Section(a, b, lab) for a, b, lab in zip(starts, ends, labels)]
    else:
        sections = [Section(0.0, float(features.duration), "A")]
    return Structure(beats=beats, downbeats=downbeats, meter=meter,
                     sections=tuple(sections), duration=float(features.duration))


@pytest.fixture
def cppns():
    return {k: CPPN(TINY, seed=i) for i, k in enumerate("abc", start=1)}
