"""Synthetic test audio with known ground truth (numpy only, deterministic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEMO = Path(__file__).resolve().parents[3] / "resources" / "audio" / "demo.ogg"


def drum_track(bpm: float, duration: float = 30.0, sr: int = 44100, offset: float = 0.25,
               hats: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Kick on every beat (a 150 -> 50 Hz sweep), closed hats on the eighths at a third of
    the kick's level, a quiet sustained bass note. Returns (mono float32, beat times)."""
    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    y = np.zeros(n, dtype=np.float64)
    period = 60.0 / bpm
    beats = np.arange(offset, duration - 0.05, period)
    t = np.arange(int(0.2 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t * 30)) / sr) * np.exp(-t * 15)
    th = np.arange(int(0.05 * sr)) / sr
    hat = np.diff(rng.standard_normal(th.size + 1)) * np.exp(-th * 90) * 0.2
    for b in beats:
        i = int(round(b * sr))
        m = min(kick.size, n - i)
        y[i:i + m] += 0.6 * kick[:m]
        if hats:
            for off in (0.0, period / 2):
                j = int(round((b + off) * sr))
                k = min(hat.size, n - j)
                if k > 0:
                    y[j:j + k] += hat[:k]
    tt = np.arange(n) / sr
    y += 0.05 * np.sin(2 * np.pi * 55 * tt)
    return y.astype(np.float32), beats


def tone(freqs=(220.0, 277.18, 329.63), duration: float = 5.0, sr: int = 22050,
         level: float = 0.1) -> np.ndarray:
    t = np.arange(int(duration * sr)) / sr
    return (level * sum(np.sin(2 * np.pi * f * t) for f in freqs)).astype(np.float32)
