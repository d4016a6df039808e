"""Hand-made tracks for the control tests: a known beat grid, no analysis."""

import numpy as np

from engine.audio.features import AudioFeatures, beat_grid
from engine.cppn.model import CPPN, CPPNConfig
from engine.scene import Scene

FPS = 30.0
TINY = CPPNConfig(hidden=16, layers=2)


def make_features(seconds: float = 8.0, tempo: float = 120.0, fps: float = FPS,
                  first: float = 0.2) -> AudioFeatures:
    rng = np.random.default_rng(3)
    n = int(round(seconds * fps))
    beats = np.arange(first, seconds, 60.0 / tempo)
    phase, pulse = beat_grid(beats, tempo, n, fps)
    rms = np.clip(0.4 + 0.2 * np.sin(np.arange(n) / 7.0), 0, 1)
    perc = rms * (0.3 + 0.5 * pulse)
    harm = np.sqrt(np.maximum(rms**2 - perc**2, 0))
    chroma = np.abs(rng.standard_normal((n, 12)))
    chroma /= chroma.max(axis=1, keepdims=True)
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


class Named:
    """A style as the scene sees one: an id, a name and a CPPN to load."""

    def __init__(self, key: str, cppn):
        self.id = self.name = key
        self.cppn = cppn

    def load_cppn(self):
        return self.cppn


def cppns(n: int = 3) -> dict:
    return {k: Named(k, CPPN(TINY, seed=i)) for i, k in enumerate("abcdef"[:n], start=1)}


def one_style_scene(seconds: float = 8.0) -> tuple[Scene, list]:
    """A one-style scene over a 120 BPM grid (beats at 0.2 + k/2 s, on frames) and a palette of
    three CPPNs, the first of which is showing."""
    nets = cppns(3)
    palette = list(nets.values())
    scene = Scene({"a": nets["a"]}, features=make_features(seconds), preset="punchy")
    return scene, palette


def same_frame(f1, f2) -> bool:
    """Two Frames draw the same picture: same networks, mix, mode and parameters."""
    if f1.mode != f2.mode or abs(f1.mix - f2.mix) > 1e-12 or len(f1.layers) != len(f2.layers):
        return False
    for a, b in zip(f1.layers, f2.layers):
        if a.cppn is not b.cppn:
            return False
        pa, pb = a.params, b.params
        for name in ("zoom", "rotation", "hue", "brightness", "warp", "warp_phase"):
            if not np.allclose(getattr(pa, name), getattr(pb, name), rtol=0, atol=1e-12):
                return False
        if not np.array_equal(pa.extras, pb.extras):
            return False
    return True
