"""Synthetic tracks with known beats, downbeats and sections, to measure the analysis.

Real music has no ground truth on this machine, so the downbeat and section finders are
scored on tracks whose answer is built in (``bench/downbeats.py``, the audio tests):

* :func:`accented_track` - a drum-and-bass groove in any meter and tempo whose downbeats
  are accented the way music usually accents them: a louder kick, the bass note and chord
  changing on the bar, a crash. The other beats still carry kicks and backbeat snares, so
  the downbeat is *not* simply the loudest onset (a backbeat snare is often louder).
* :func:`sectioned_track` - sections of distinct timbre and harmony (A B A by default),
  each a whole number of bars, for the section finder.

numpy and scipy only, seeded, so every call gives the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SR = 22050

# Chord roots (MIDI) cycled one per bar; triads on top. Each section style has its own.
_PROGRESSIONS = {
    "A": [(45, (57, 60, 64)), (41, (53, 57, 60)), (43, (55, 59, 62)), (40, (52, 56, 59))],
    "B": [(38, (62, 65, 69)), (46, (58, 62, 65)), (36, (60, 64, 67)), (43, (59, 62, 67))],
    "C": [(42, (54, 58, 61)), (47, (59, 63, 66)), (44, (56, 59, 63)), (39, (51, 55, 58))],
}


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


@dataclass(frozen=True)
class SyntheticTrack:
    """Samples (mono float32 at :data:`SR`) and the truth they were built from."""

    audio: np.ndarray
    sr: int
    beats: np.ndarray  # seconds
    downbeats: np.ndarray  # seconds
    meter: int
    sections: tuple[tuple[float, float, str], ...]  # (start, end, label)

    @property
    def duration(self) -> float:
        return self.audio.shape[0] / self.sr

    def write(self, path) -> None:
        """A 16-bit WAV (the analysis reads files)."""
        import soundfile as sf

        sf.write(str(path), self.audio, self.sr, subtype="PCM_16")


def _add(buf: np.ndarray, t: float, sound: np.ndarray, gain: float) -> None:
    i = int(round(t * SR))
    if i >= buf.size or i < 0:
        return
    m = min(sound.size, buf.size - i)
    buf[i:i + m] += gain * sound[:m]


def _kick() -> np.ndarray:
    t = np.arange(int(0.3 * SR)) / SR
    f = 50 + 100 * np.exp(-t * 30)
    return (np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t * 12)).astype(np.float32)


def _noise_hit(rng, seconds: float, decay: float, highpass: bool) -> np.ndarray:
    from scipy.signal import lfilter

    n = int(seconds * SR)
    t = np.arange(n) / SR
    noise = rng.standard_normal(n)
    if highpass:
        noise = lfilter([1, -1], [1, -0.3], noise)
    return (noise * np.exp(-t * decay)).astype(np.float32)


def _note(freq: float, seconds: float, timbre: str, level: float) -> np.ndarray:
    """One sustained note: "saw" (bright, buzzy), "sine" (pure, soft) or "square"."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    if timbre == "saw":
        x = sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, 12) if k * freq < 9000)
    elif timbre == "square":
        x = sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, 16, 2) if k * freq < 9000)
    else:
        x = np.sin(2 * np.pi * freq * t) + 0.2 * np.sin(4 * np.pi * freq * t)
    env = np.minimum(1.0, t / 0.01) * np.minimum(1.0, (seconds - t) / 0.03).clip(0, 1)
    return (level * x * env).astype(np.float32)


def accented_track(bpm: float, meter: int = 4, bars: int = 16, offset: float = 0.35,
                   accent: float = 1.0, seed: int = 0) -> SyntheticTrack:
    """A groove of ``bars`` bars of ``meter`` beats at ``bpm`` whose first beat of each bar
    is accented (``accent`` 0: no accent, every beat alike; 1: the default mix).

    Every beat: a kick (louder on the downbeat) and closed hats on the eighths; beats
    2 and 4 of 4/4 (2 and 3 of 3/4) carry a snare as loud as the downbeat's kick. On the
    downbeat: the bass note and the chord change, and a crash every bar."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    duration = offset + bars * meter * period + 1.0
    y = np.zeros(int(duration * SR), dtype=np.float64)
    kick = _kick()
    snare = _noise_hit(rng, 0.18, 25, highpass=True)
    hat = _noise_hit(rng, 0.04, 90, highpass=True)
    crash = _noise_hit(rng, 0.8, 5, highpass=True)
    backbeats = {4: (1, 3), 3: (1, 2)}.get(meter, tuple(range(1, meter, 2)))
    beats, downbeats = [], []
    for bar in range(bars):
        root, chord = _PROGRESSIONS["A"][bar % 4]
        t_bar = offset + bar * meter * period
        downbeats.append(t_bar)
        bar_len = meter * period
        for f in chord:
            _add(y, t_bar, _note(_hz(f), bar_len, "saw", 0.012), 1.0)
        _add(y, t_bar, _note(_hz(root), bar_len, "sine", 0.12), 1.0)
        if accent > 0:
            _add(y, t_bar, crash, 0.08 * accent)
        for b in range(meter):
            t = t_bar + b * period
            beats.append(t)
            _add(y, t, kick, 0.45 + (0.25 * accent if b == 0 else 0.0))
            if b in backbeats:
                _add(y, t, snare, 0.25)
            for e in (0.0, 0.5):
                _add(y, t + e * period, hat, 0.05)
    y *= 0.9 / max(np.abs(y).max(), 1e-9)
    return SyntheticTrack(audio=y.astype(np.float32), sr=SR, beats=np.array(beats),
                          downbeats=np.array(downbeats), meter=meter,
                          sections=((0.0, duration, "A"),))


_SECTION_STYLE = {
    # chords' timbre, bass timbre, drums: (kick, snare, hats, arpeggio)
    "A": ("saw", "saw", (True, True, False, False)),
    "B": ("sine", "sine", (False, False, True, True)),
    "C": ("square", "square", (True, False, True, False)),
}


def sectioned_track(labels: str = "ABA", bars_each: int = 8, bpm: float = 120.0,
                    meter: int = 4, seed: int = 0) -> SyntheticTrack:
    """Sections of ``bars_each`` bars, one per letter of ``labels`` (A, B or C), each with
    its own chords, timbre and drum pattern; a repeated letter is the same music again."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    bar_len = meter * period
    duration = len(labels) * bars_each * bar_len
    y = np.zeros(int(round(duration * SR)), dtype=np.float64)
    kick = _kick()
    snare = _noise_hit(rng, 0.18, 25, highpass=True)
    hat = _noise_hit(rng, 0.04, 90, highpass=True)
    beats, downbeats, sections = [], [], []
    for s, label in enumerate(labels):
        chord_timbre, bass_timbre, (kicks, snares, hats, arp) = _SECTION_STYLE[label]
        s0 = s * bars_each * bar_len
        sections.append((s0, s0 + bars_each * bar_len, label))
        for bar in range(bars_each):
            root, chord = _PROGRESSIONS[label][bar % 4]
            t_bar = s0 + bar * bar_len
            downbeats.append(t_bar)
            for f in chord:
                _add(y, t_bar, _note(_hz(f), bar_len, chord_timbre, 0.02), 1.0)
            _add(y, t_bar, _note(_hz(root), bar_len, bass_timbre, 0.1), 1.0)
            for b in range(meter):
                t = t_bar + b * period
                beats.append(t)
                # Every section keeps a pulse on every beat and hats on the eighths, so the
                # tracker follows the same tempo throughout.
                _add(y, t, kick, (0.6 if b == 0 else 0.45) if kicks else 0.0)
                if snares and b % 2 == 1:
                    _add(y, t, snare, 0.2)
                for e in (0.0, 0.5):
                    _add(y, t + e * period, hat, (0.1 if hats else 0.05) * (1.0 if e else 0.7))
                if arp:
                    f = _hz(chord[b % 3] + 12)
                    _add(y, t, _note(f, period * 0.9, "sine", 0.05), 1.0)
    y *= 0.9 / max(np.abs(y).max(), 1e-9)
    return SyntheticTrack(audio=y.astype(np.float32), sr=SR, beats=np.array(beats),
                          downbeats=np.array(downbeats), meter=meter,
                          sections=tuple(sections))
