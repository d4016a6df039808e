"""The live feature extractor: blocks of samples in, :class:`LiveFeatures` for the newest
moment out, on the same scales as the file analysis where a causal method allows it.

Per analysis frame (every 512 samples at 22050 Hz, ~43 per second; see
:mod:`engine.audio.live.frames` for what is bit-identical to the file analysis) this does
what :mod:`engine.audio.video_rate` does per video frame, causally:

=============  ===========================================================================
feature        live vs file analysis
=============  ===========================================================================
rms, onset     divided by the 99th percentile of the last :data:`NORM_WINDOW_S` seconds
               (the file analysis: of the whole track) with the same floors, clipped to 1
harmonic,      ``rms * sqrt(share)`` as offline; the harmonic median is causal (newest 31
percussive     frames), so a new sustained note counts as harmonic ~0.35 s later
bass/mid/      band amplitude / its exponential average (3 s, as offline); the average
treble         starts as the running mean of the first 3 s (offline: the mean of the first
               3 s, which lies in the future)
centroid,      identical formulas
chroma
beat_phase,    from :class:`~engine.audio.live.tracker.OnlineBeatTracker`: predicted, so
beat_pulse     on the beat once locked (offline: the whole-track dynamic-programming beats)
tempo          the tracker's current tempo (offline: one value for the track)
=============  ===========================================================================

Smoothing: the same attack/release time constants (:data:`DEFAULT_SMOOTHING`), applied at
the analysis frame rate instead of the video fps (a one-pole filter with time constant
``tau`` behaves the same at either rate up to the step size), because a renderer at any
display rate then reads the newest frame without waiting for a video frame to fill: the
latency from a sample arriving to the features that include it is at most one hop
(23 ms) plus the computing (~0.5 ms a frame) plus, above 22050 Hz, the anti-alias
filter's ~0.1 ms (see :mod:`engine.audio.live.frames`); ``bench/live.py`` measures it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.audio.decode import ANALYSIS_SR
from engine.audio.features import PULSE_DECAY
from engine.audio.frames import BANDS, FRAME_RATE, HOP, ONSET_FLOOR, RMS_FLOOR
from engine.audio.live.frames import CausalFrames
from engine.audio.live.tracker import OnlineBeatTracker
from engine.audio.smoothing import one_pole_coefficient, resolve_smoothing
from engine.audio.video_rate import BAND_AVERAGE_S, BAND_FLOOR, BAND_MAX, CENTROID_RANGE_HZ

NORM_WINDOW_S = 60.0  # the percentile references look back this far
NORM_EVERY = 16  # frames between percentile updates (~0.37 s)
SCALAR_NAMES = ("rms", "onset", "beat_phase", "beat_pulse", "harmonic", "percussive",
                "bass", "mid", "treble", "centroid")


@dataclass(frozen=True)
class LiveFeatures:
    """The features at one instant of a live stream, named and ranged like
    :class:`~engine.audio.features.AudioFeatures`' per-frame values (chroma is (12,)).

    ``time`` is stream time in seconds (input consumed since the start) when this frame's
    last sample arrived; ``peak`` is the newest hop's largest |sample| (a level meter),
    ``locked`` whether a beat is tracked, ``tapped`` whether the tempo came from taps."""

    time: float
    rms: float = 0.0
    onset: float = 0.0
    beat_phase: float = 0.0
    beat_pulse: float = 0.0
    harmonic: float = 0.0
    percussive: float = 0.0
    bass: float = 0.0
    mid: float = 0.0
    treble: float = 0.0
    centroid: float = 0.0
    chroma: np.ndarray = field(default_factory=lambda: np.zeros(12, np.float32))
    tempo: float = 0.0
    beat_confidence: float = 0.0
    peak: float = 0.0
    locked: bool = False
    tapped: bool = False

    def values(self) -> dict[str, float]:
        """Every scalar feature (chroma excluded), as ``AudioFeatures.values_at`` gives."""
        return {name: float(getattr(self, name)) for name in SCALAR_NAMES}


class _Reference:
    """The 99th percentile of the last ``window`` values, floored: a causal stand-in for
    the file analysis' whole-track percentile."""

    def __init__(self, window: int, floor: float):
        self._buf = np.zeros(window, np.float64)
        self._n = 0
        self.floor = floor
        self.value = floor

    def add(self, x: float) -> None:
        self._buf[self._n % self._buf.size] = x
        self._n += 1
        if self._n <= NORM_EVERY or self._n % NORM_EVERY == 0:
            have = self._buf[: min(self._n, self._buf.size)]
            self.value = max(float(np.percentile(have, 99)), self.floor)


class LiveAnalyzer:
    """Push blocks of float samples (any size; ``(n,)`` mono, ``(n, channels)`` or
    interleaved); read :attr:`latest`.

    ``sample_rate`` >= 16 kHz and ``channels`` are the input's; ``smoothing`` is as for
    :func:`engine.audio.analyze.analyze` (None: the defaults). A format change mid-stream
    goes through :meth:`reconfigure`; everything learnt so far (tempo, references) stays."""

    def __init__(self, sample_rate: int, channels: int = 1, smoothing=None):
        self.frames = CausalFrames(sample_rate, channels)
        self.tracker = OnlineBeatTracker(FRAME_RATE)
        self._rms_ref = _Reference(int(NORM_WINDOW_S * FRAME_RATE), RMS_FLOOR)
        self._onset_ref = _Reference(int(NORM_WINDOW_S * FRAME_RATE), ONSET_FLOOR)
        spec = resolve_smoothing(smoothing)
        self._names = [k for k in ("rms", "onset", "harmonic", "percussive", "bass", "mid",
                                   "treble", "centroid", "chroma") if k in spec]
        self._att = {k: one_pole_coefficient(spec[k][0], FRAME_RATE) for k in self._names}
        self._rel = {k: one_pole_coefficient(spec[k][1], FRAME_RATE) for k in self._names}
        self._state: dict[str, np.ndarray] = {}
        self._band_alpha = one_pole_coefficient(BAND_AVERAGE_S, FRAME_RATE)
        self._band_avg = np.zeros(len(BANDS))
        self._band_n = 0
        self.latest = LiveFeatures(time=0.0)
        self.beat_lead = 0.0  # seconds: beat phase read this far ahead (display latency)

    # -- format ----------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.frames.sample_rate

    @property
    def channels(self) -> int:
        return self.frames.channels

    @property
    def time(self) -> float:
        """Stream time: seconds of input consumed."""
        return self.frames.time

    def reconfigure(self, sample_rate: int, channels: int) -> None:
        self.frames.reconfigure(sample_rate, channels)

    # -- the beat --------------------------------------------------------------------------
    @property
    def tempo(self) -> float:
        return self.tracker.tempo

    def beat_phase_at(self, t: float) -> float:
        """The beat phase at stream time ``t`` (extrapolated; a renderer may ask for the
        moment its frame will be shown)."""
        return self.tracker.phase_at(t)

    def tap(self, t: float | None = None) -> None:
        """Tap tempo at stream time ``t`` (default: now)."""
        self.tracker.tap(self.time if t is None else t)

    def resync(self, t: float | None = None) -> None:
        """A beat is at stream time ``t`` (default: now)."""
        self.tracker.resync(self.time if t is None else t)

    def release_tap(self) -> None:
        self.tracker.release()

    # -- feeding ---------------------------------------------------------------------------
    def push(self, block) -> list[LiveFeatures]:
        """Analyse a block; returns the features of each analysis frame it completed
        (often none for small blocks; :attr:`latest` is the newest)."""
        out = []
        for j, v in self.frames.push(block):
            out.append(self._features(j, v))
        if out:
            self.latest = out[-1]
        return out

    def _smooth(self, name: str, x):
        x = np.asarray(x, np.float64)
        y = self._state.get(name)
        if y is None:
            y = self._state[name] = x.copy()
            return y
        up = x > y
        y += np.where(up, self._att[name], self._rel[name]) * (x - y)
        return y

    def _features(self, j: int, v: dict) -> LiveFeatures:
        self.tracker.push(v["onset"])
        rms_raw = v["rms"]
        self._rms_ref.add(rms_raw)
        self._onset_ref.add(v["onset"])
        silent = rms_raw < RMS_FLOOR
        rms_k = min(max(rms_raw / self._rms_ref.value, 0.0), 1.0)
        onset_k = min(max(v["onset"] / self._onset_ref.value, 0.0), 1.0)
        hf = min(max(v["harm_frac"], 0.0), 1.0)
        lo_hz, hi_hz = CENTROID_RANGE_HZ
        cent = 0.0 if silent else min(max(math.log2(max(v["centroid_hz"], 1e-9) / lo_hz)
                                          / math.log2(hi_hz / lo_hz), 0.0), 1.0)
        chroma = np.asarray(v["chroma"], np.float64)
        cmax = float(chroma.max())
        chroma = np.zeros(12) if cmax <= 1e-12 or silent else chroma / cmax

        levels = np.array([v[b] for b in BANDS], np.float64)
        if self._band_n < int(BAND_AVERAGE_S * FRAME_RATE):
            self._band_n += 1
            self._band_avg += (levels - self._band_avg) / self._band_n
        else:
            self._band_avg += self._band_alpha * (levels - self._band_avg)
        rel = np.clip(levels / np.maximum(self._band_avg, BAND_FLOOR), 0.0, BAND_MAX)
        rel[levels < BAND_FLOOR * 0.5] = 0.0

        series = {"rms": rms_k, "onset": onset_k, "harmonic": rms_k * math.sqrt(hf),
                  "percussive": rms_k * math.sqrt(1.0 - hf), "centroid": cent,
                  "chroma": chroma}
        for k, band in enumerate(BANDS):
            series[band] = rel[k]
        for name in self._names:
            series[name] = self._smooth(name, series[name])

        time = (j + 1) * HOP / ANALYSIS_SR
        tr = self.tracker
        phase = tr.phase_at(time + self.beat_lead)
        locked = tr.locked

        def s(name: str, hi: float) -> float:
            x = float(np.asarray(series[name]))
            return min(max(x, 0.0), hi) if math.isfinite(x) else 0.0

        return LiveFeatures(
            time=time,
            rms=s("rms", 1.0), onset=s("onset", 1.0),
            beat_phase=phase if locked else 0.0,
            beat_pulse=math.exp(-PULSE_DECAY * phase) if locked else 0.0,
            harmonic=s("harmonic", 1.0), percussive=s("percussive", 1.0),
            bass=s("bass", BAND_MAX), mid=s("mid", BAND_MAX), treble=s("treble", BAND_MAX),
            centroid=s("centroid", 1.0),
            chroma=np.clip(np.nan_to_num(np.asarray(series["chroma"], np.float64)), 0, 1
                           ).astype(np.float32),
            tempo=tr.tempo, beat_confidence=tr.confidence,
            peak=min(v["peak"], 1.0), locked=locked, tapped=tr.tapped,
        )
