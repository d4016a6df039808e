"""A track described in words, from its features: the first half of "music analysis ->
style choice" (:mod:`engine.audio.suggest` is the second).

Five traits are measured on the whole track and each gets a word and a strength in [0, 1]
(how far from neutral the track is on that axis):

=============  ==========================================================================
trait          measure and thresholds
=============  ==========================================================================
tempo          the beat tracker's BPM: none -> "beatless", < 90 "slow", < 115 "mid-tempo",
               < 135 "upbeat", < 160 "fast", else "very fast"
energy         0.5 x loudness (mean RMS, -35 dBFS -> 0, -10 dBFS -> 1) + 0.3 x onset rate
               (onsets per second / 6) + 0.2 x percussive share: < 0.35 "calm",
               < 0.6 "steady", else "energetic"
percussion     share of HPSS percussive energy: < 0.2 "smooth", < 0.4 "rhythmic", else
               "punchy"
brightness     mean spectral centroid: below 800 Hz "dark", above 2 kHz "bright", between
               "warm"
mode           Krumhansl-Schmuckler key estimate on the loudness-weighted chroma: "major"
               or "minor" (skipped when the key correlation is below 0.3)
=============  ==========================================================================

Each word also carries a few *visual* words (what such music tends to look like: "dark,
deep, shadowy" for dark music, "vivid, intense" for energetic) that the ranking matches
against style names and prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.audio.features import AudioFeatures

CENTROID_LO_HZ, CENTROID_HI_HZ = 100.0, 8000.0  # the centroid feature's log scale
DARK_HZ, BRIGHT_HZ = 800.0, 2000.0
MIN_KEY_CONFIDENCE = 0.3

#: Visual words per trait word: what the CLIP query and the keyword heuristic look for.
VISUALS: dict[str, tuple[str, ...]] = {
    "beatless": ("ambient", "floating", "still", "dreamy"),
    "slow": ("slow", "drifting", "gentle", "languid"),
    "mid-tempo": ("flowing", "swaying"),
    "upbeat": ("lively", "bouncy", "dancing"),
    "fast": ("fast", "racing", "kinetic"),
    "very fast": ("frantic", "rushing", "hyperactive"),
    "calm": ("calm", "serene", "soft", "peaceful", "misty"),
    "steady": ("balanced", "steady"),
    "energetic": ("vivid", "intense", "explosive", "electric", "fiery"),
    "smooth": ("smooth", "liquid", "silky", "flowing", "organic"),
    "rhythmic": ("rhythmic", "patterned", "woven"),
    "punchy": ("punchy", "pulsing", "sharp", "geometric", "striking"),
    "dark": ("dark", "deep", "shadowy", "night", "murky"),
    "warm": ("warm", "glowing", "golden", "amber"),
    "bright": ("bright", "luminous", "sparkling", "airy", "crystalline"),
    "major": ("happy", "uplifting", "joyful", "colourful", "sunny"),
    "minor": ("moody", "melancholic", "mysterious", "brooding"),
}


@dataclass
class Trait:
    name: str  # tempo, energy, percussion, brightness, mode
    word: str  # e.g. "energetic"
    strength: float  # [0, 1]: how far from neutral
    value: float  # the measure behind it (BPM, score, share, Hz, key correlation)
    detail: str  # human-readable measure

    @property
    def visuals(self) -> tuple[str, ...]:
        return VISUALS.get(self.word, ())


@dataclass
class TrackDescription:
    traits: list[Trait]
    key: str = ""
    mode: str = ""
    facts: dict = field(default_factory=dict)

    @property
    def words(self) -> list[str]:
        return [t.word for t in self.traits]

    @property
    def text(self) -> str:
        """One plain sentence, e.g. 'energetic, upbeat, punchy, bright music in A minor
        (120 BPM)'."""
        order = ["energy", "tempo", "percussion", "brightness"]
        words = [t.word for n in order for t in self.traits if t.name == n]
        key = f" in {self.key} {self.mode}" if self.key else ""
        bpm = self.facts.get("tempo", 0.0)
        tempo = f" ({bpm:.0f} BPM)" if bpm > 0 else ""
        return f"{', '.join(words)} music{key}{tempo}"

    @property
    def visual_text(self) -> str:
        """The visual words of the strongest traits, for a CLIP text query."""
        words: list[str] = []
        for t in sorted(self.traits, key=lambda t: -t.strength):
            words += list(t.visuals[:3])
        return "abstract art, " + ", ".join(dict.fromkeys(words))

    def trait(self, name: str) -> Trait | None:
        return next((t for t in self.traits if t.name == name), None)


def _clip01(x: float) -> float:
    return float(min(max(x, 0.0), 1.0))


def _centroid_hz(norm: float) -> float:
    return CENTROID_LO_HZ * (CENTROID_HI_HZ / CENTROID_LO_HZ) ** norm


def _tempo_word(bpm: float) -> tuple[str, float]:
    if bpm <= 0:
        return "beatless", 1.0
    word = "very fast"
    for limit, name in ((90, "slow"), (115, "mid-tempo"), (135, "upbeat"), (160, "fast")):
        if bpm < limit:
            word = name
            break
    # Strength: distance from 115 BPM on a log scale, 1.0 at an octave away.
    return word, _clip01(abs(math.log2(bpm / 115.0)))


def describe(features: AudioFeatures) -> TrackDescription:
    """Describe the track behind ``features`` (see the module docstring for the rules)."""
    f = features
    st = f.stats or {}
    live = f.rms > 0.02
    loud_db = float(st.get("loudness_db", -120.0))
    onset_rate = float(st.get("onset_rate", 0.0))
    perc = float(st.get("percussive_ratio", 0.0))
    if "percussive_ratio" not in st and live.any():
        h2 = float(np.sum(f.harmonic[live] ** 2))
        p2 = float(np.sum(f.percussive[live] ** 2))
        perc = p2 / (h2 + p2) if h2 + p2 > 0 else 0.0
    bright_norm = float(st.get("brightness", float(np.mean(f.centroid[live])) if live.any()
                               else 0.0))
    hz = _centroid_hz(bright_norm) if bright_norm > 0 else 0.0

    traits = []
    word, strength = _tempo_word(f.tempo)
    detail = f"{f.tempo:.0f} BPM" if f.tempo > 0 else "no steady beat"
    traits.append(Trait("tempo", word, strength, float(f.tempo), detail))

    energy = (0.5 * _clip01((loud_db + 35.0) / 25.0) + 0.3 * _clip01(onset_rate / 6.0)
              + 0.2 * _clip01(perc))
    word = "calm" if energy < 0.35 else "steady" if energy < 0.6 else "energetic"
    traits.append(Trait("energy", word, _clip01(abs(energy - 0.475) / 0.3), energy,
                        f"{loud_db:.0f} dBFS, {onset_rate:.1f} onsets/s"))

    word = "smooth" if perc < 0.2 else "rhythmic" if perc < 0.4 else "punchy"
    traits.append(Trait("percussion", word, _clip01(abs(perc - 0.3) / 0.25), perc,
                        f"{100 * perc:.0f}% percussive"))

    if hz <= 0:
        word, bstrength = "dark", 0.3
    else:
        word = "dark" if hz < DARK_HZ else "bright" if hz > BRIGHT_HZ else "warm"
        mid = math.sqrt(DARK_HZ * BRIGHT_HZ)
        bstrength = _clip01(abs(math.log2(hz / mid)) / 1.5)
    traits.append(Trait("brightness", word, bstrength, hz, f"centroid {hz:.0f} Hz"))

    key, mode = str(st.get("key", "")), str(st.get("mode", ""))
    kconf = float(st.get("key_confidence", 0.0))
    if key and mode in ("major", "minor") and kconf >= MIN_KEY_CONFIDENCE:
        traits.append(Trait("mode", mode, _clip01((kconf - 0.3) / 0.5), kconf,
                            f"{key} {mode} (r = {kconf:.2f})"))
    else:
        key, mode = "", ""

    facts = {
        "tempo": float(f.tempo),
        "duration": float(f.duration),
        "loudness_db": loud_db,
        "onset_rate": onset_rate,
        "percussive_ratio": perc,
        "centroid_hz": hz,
        "energy": energy,
        "dynamics": float(np.percentile(f.rms, 90) - np.percentile(f.rms, 10))
        if f.n_frames else 0.0,
    }
    return TrackDescription(traits=traits, key=key, mode=mode, facts=facts)
