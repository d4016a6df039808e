"""The analysis cache: frame-level results of a file, stored by its content.

An entry is keyed by a BLAKE2 hash of the file's bytes plus the analysis parameters, so a
renamed copy hits the same entry and a changed parameter misses it; a re-open skips
decoding, features and beats. Entries are written atomically (:mod:`engine.atomic`) and a
corrupt or stale one is recomputed. Conversion to any video fps happens after the cache,
so every fps and smoothing reuses one entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import paths
from engine.atomic import atomic_path, remove_stale_temporaries
from engine.audio.beats import (
    BEAT_TIGHTNESS,
    MIN_BEAT_CONFIDENCE,
    TEMPO_FALLOFF_OCT,
    TEMPO_ONSET_SIGMA,
    TEMPO_RANGE,
    TEMPOGRAM_WIN,
)
from engine.audio.decode import ANALYSIS_SR
from engine.audio.frames import (
    HOP,
    HPSS_KERNEL,
    MEL_FLOOR_DB,
    N_FFT,
    N_MELS,
    ONSET_FLOOR,
    RAW_KEYS,
    VECTOR_KEYS,
)

ANALYSIS_VERSION = 3  # bump when the cached frame-level results change meaning


@dataclass
class RawAnalysis:
    """Frame-level (HOP-spaced) results of one file: what the cache stores."""

    duration: float
    source_rate: int
    channels: int
    tempo: float
    beat_times: np.ndarray
    beat_confidence: float
    frames: dict[str, np.ndarray]  # RAW_KEYS -> (K,), VECTOR_KEYS -> (K, d)
    warnings: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(len(self.frames["rms"]))

    def save(self, path: Path) -> None:
        meta = {
            "version": ANALYSIS_VERSION,
            "duration": self.duration,
            "source_rate": self.source_rate,
            "channels": self.channels,
            "tempo": self.tempo,
            "beat_confidence": self.beat_confidence,
            "warnings": self.warnings,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)  # what a killed run left half-written
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), beat_times=self.beat_times,
                     **self.frames)

    @classmethod
    def load(cls, path: Path) -> RawAnalysis:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != ANALYSIS_VERSION:
                raise ValueError("stale cache entry")
            frames = {k: data[k] for k in (*RAW_KEYS, *VECTOR_KEYS)}
            beats = data["beat_times"]
        return cls(
            duration=float(meta["duration"]),
            source_rate=int(meta["source_rate"]),
            channels=int(meta["channels"]),
            tempo=float(meta["tempo"]),
            beat_times=beats.astype(np.float64),
            beat_confidence=float(meta["beat_confidence"]),
            frames=frames,
            warnings=list(meta.get("warnings", [])),
        )


def default_cache_dir() -> Path:
    """``audio/`` in the shared cache folder (:func:`engine.paths.cache_dir`)."""
    return paths.cache_dir("audio")


def file_hash(path, block: int = 1 << 20) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def _params_key() -> str:
    params = {
        "v": ANALYSIS_VERSION, "sr": ANALYSIS_SR, "n_fft": N_FFT, "hop": HOP, "mels": N_MELS,
        "hpss": HPSS_KERNEL, "tempo": TEMPO_RANGE, "tg": TEMPOGRAM_WIN, "blur": TEMPO_ONSET_SIGMA,
        "falloff": TEMPO_FALLOFF_OCT, "flux": "j-2>j-1", "detrend": 1.0,
        "conf": MIN_BEAT_CONFIDENCE, "tight": BEAT_TIGHTNESS, "dsp": 1,
        "onset_floor": ONSET_FLOOR, "mel_floor": MEL_FLOOR_DB,
    }
    return hashlib.blake2b(json.dumps(params, sort_keys=True).encode(), digest_size=6).hexdigest()


def cache_path(path, cache_dir=None) -> Path:
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / f"{file_hash(path)}-{_params_key()}.npz"
