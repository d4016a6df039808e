"""Bars and sections: where each bar starts, and which stretches of a track are the same
music (verse, chorus...), so a show can change styles on the song's own structure.

**Beats** come from the tracker (:mod:`engine.audio.beats`), continued at the tracked
period over a drumless intro or outro the tracker leaves out (:func:`extend_beats`), so
bars cover the whole track.

**Downbeats.** Music marks a bar's first beat in several ways at once, so each beat gets an
*accent*: how much the harmony (chroma) changes across it, the low-band (20-250 Hz) level
just after it (kick, bass note) and the onset strength at it, each standardised over the
track (median and spread) and weighted by :data:`ACCENT_WEIGHTS` (harmony counts most: a
backbeat snare makes onsets point at beats 2 and 4). With ``meter`` beats to a bar there
are ``meter`` ways to group the beats; the one whose beats carry the most mean accent wins,
and every ``meter``-th beat from there is a downbeat. ``downbeat_shift`` moves that choice
by N beats when the ear disagrees.

**Meter** counts *tracked beats* per bar: 4 for 4/4, 3 for 3/4. For 6/8 the tracker
(prior 70-190 BPM) usually follows the dotted quarter, two to a bar: use 2; give 6 only
where it follows the eighths. Any whole number from 2 to 12 is accepted.

**Sections.** Per beat, the median chroma (harmony) and mean MFCCs (timbre), made beat-
synchronous with ``librosa.util.sync``. *Boundaries*: a beat-by-beat cosine self-similarity
matrix, and Foote's checkerboard novelty on it comparing the :data:`NOVELTY_BARS` bars
before each beat with those after; peaks above :data:`NOVELTY_THRESHOLD`, at least
:data:`MIN_SECTION_BARS` bars apart, snapped to the nearest downbeat. *Labels*: librosa's
k-nearest-neighbour recurrence matrix (``librosa.segment.recurrence_matrix``) of four-beat
chroma sequences plus timbre says which beats repeat which; a section that both recurs
with an earlier section type and shares its texture gets its letter (A B A C B...).

Why a novelty kernel rather than McFee & Ellis' Laplacian segmentation (recurrence +
timbre path graph, spectral clustering; tried first with librosa's tools): on loop-based
music it clusters beats by *chord*, since every chord of a four-bar loop recurs only with
itself; on the synthetic A B A track it returned chord-cycle clusters (0000 2222 1111...)
instead of three sections. A kernel four bars wide sees whole chord cycles on both sides,
so it only fires where the texture or the harmony *as a whole* changes.

Results are cached beside the audio analysis, keyed by the file's content, the meter and
the shift (:func:`analyze_structure`). Accuracy measured on synthetic tracks:
``bench/downbeats.py``; tests in ``tests/engine/audio/test_audio_structure.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import SonolumeError

STRUCTURE_VERSION = 4  # bump when the cached structure changes meaning
METER_RANGE = (2, 12)
MIN_SECTION_BARS = 4  # section boundaries at least this many bars apart (and from either end)
MAX_UNITS = 1024  # beats grouped so the similarity matrices stay this size (a 3-hour file)
NOVELTY_BARS = 4  # the novelty kernel compares this many bars before and after
NOVELTY_THRESHOLD = 0.25  # mean similarity drop (of 2) that makes a section boundary
SAME_SECTION_RECURRENCE = 0.6  # normalised recurrence density of repeats of one section
SAME_SECTION_SIMILARITY = 0.5  # normalised texture similarity of repeats of one section
NO_BEAT_UNIT_S = 0.5  # time grid for sections when a track has no steady beat
ACCENT_BASS_S = 0.1  # low-band level averaged over this long after each beat
#: How much each cue counts. Harmony changes on the bar in most music and was the one cue
#: right on every test track; a backbeat snare makes the onset strength point at beats 2
#: and 4 (mean standardised onset on the demo track: beat 1 0.01, beat 2 0.09, beat 4 0.08;
#: harmony change: beat 1 1.47, others <= 0), so onset and low band only break ties where
#: the harmony stands still.
ACCENT_WEIGHTS = {"harmony": 2.0, "low": 0.5, "onset": 0.5}


@dataclass(frozen=True)
class Section:
    """A stretch of the track: ``start`` on a downbeat (the first at 0.0), ``end`` the next
    section's start (the last at the track's duration). Repeats share a ``label``."""

    start: float
    end: float
    label: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Structure:
    """Beats, bars and sections of one track, times in seconds.

    ``meter`` is the number of beats in ``beats`` to a bar (see the module notes on 6/8).
    Bar *i* runs from ``downbeats[i]`` to ``downbeats[i + 1]``; beats before the first
    downbeat (a pickup) count as bar 0. A track without a steady beat has no beats and no
    downbeats; its sections then start on a half-second grid."""

    beats: np.ndarray
    downbeats: np.ndarray
    meter: int
    sections: tuple[Section, ...]
    duration: float

    @property
    def n_bars(self) -> int:
        return int(len(self.downbeats))

    def bar_at(self, t: float) -> int:
        """Index (0-based) of the bar containing ``t``; 0 before the first downbeat and
        for a track without downbeats."""
        if len(self.downbeats) == 0:
            return 0
        return max(int(np.searchsorted(self.downbeats, float(t), side="right")) - 1, 0)

    def beat_at(self, t: float) -> int:
        """Index of the last beat at or before ``t`` (0 before the first beat)."""
        if len(self.beats) == 0:
            return 0
        return max(int(np.searchsorted(self.beats, float(t), side="right")) - 1, 0)

    def section_at(self, t: float) -> int:
        """Index of the section containing ``t`` (clamped to the first and last)."""
        starts = [s.start for s in self.sections]
        return min(max(int(np.searchsorted(starts, float(t), side="right")) - 1, 0),
                   len(self.sections) - 1)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(s.label for s in self.sections)

    def to_json(self) -> dict:
        return {
            "version": STRUCTURE_VERSION,
            "duration": float(self.duration),
            "meter": int(self.meter),
            # Full precision: a section's start stays exactly one of the downbeats.
            "beats": [float(b) for b in self.beats],
            "downbeats": [float(b) for b in self.downbeats],
            "sections": [{"start": float(s.start), "end": float(s.end), "label": s.label}
                         for s in self.sections],
        }

    @classmethod
    def from_json(cls, d: dict) -> Structure:
        """The inverse of :meth:`to_json`; SonolumeError (naming the field) for anything
        that is not a well-formed structure."""
        if not isinstance(d, dict):
            raise SonolumeError("structure must be a JSON object")
        duration = _number(d.get("duration"), "duration")
        if duration < 0:
            raise SonolumeError("structure: duration must be >= 0")
        meter = d.get("meter")
        if isinstance(meter, bool) or not isinstance(meter, int) or not (
                METER_RANGE[0] <= meter <= METER_RANGE[1]):
            raise SonolumeError(f"structure: meter must be a whole number from "
                                f"{METER_RANGE[0]} to {METER_RANGE[1]}, not {meter!r}")
        beats = _times(d.get("beats"), "beats")
        downbeats = _times(d.get("downbeats"), "downbeats")
        raw = d.get("sections")
        if not isinstance(raw, list) or not raw:
            raise SonolumeError("structure: sections must be a non-empty list")
        sections = []
        for i, s in enumerate(raw):
            if not isinstance(s, dict):
                raise SonolumeError(f"structure: section {i} must be an object")
            start = _number(s.get("start"), f"section {i} start")
            end = _number(s.get("end"), f"section {i} end")
            label = s.get("label")
            if not isinstance(label, str) or not label or len(label) > 16:
                raise SonolumeError(f"structure: section {i} label must be a short string")
            if not end > start:
                raise SonolumeError(f"structure: section {i} ends before it starts")
            if sections and abs(start - sections[-1].end) > 1e-6:
                raise SonolumeError(f"structure: section {i} does not start where section "
                                    f"{i - 1} ends")
            sections.append(Section(start, end, label))
        return cls(beats=beats, downbeats=downbeats, meter=meter, sections=tuple(sections),
                   duration=duration)


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SonolumeError(f"structure: {what} must be a finite number, not {v!r}")
    return float(v)


def _times(v, what: str) -> np.ndarray:
    if not isinstance(v, list):
        raise SonolumeError(f"structure: {what} must be a list of seconds")
    a = np.array([_number(x, what) for x in v], dtype=np.float64)
    if a.size > 1 and np.any(np.diff(a) <= 0):
        raise SonolumeError(f"structure: {what} must increase")
    return a


def check_meter(meter, downbeat_shift) -> tuple[int, int]:
    """Validated (meter, shift); SonolumeError saying what is allowed."""
    lo, hi = METER_RANGE
    if isinstance(meter, bool) or not isinstance(meter, (int, np.integer)) or not (
            lo <= meter <= hi):
        raise SonolumeError(f"meter must be a whole number of beats per bar from {lo} to {hi}"
                            f" (4 for 4/4, 3 for 3/4), not {meter!r}")
    if isinstance(downbeat_shift, bool) or not isinstance(downbeat_shift, (int, np.integer)):
        raise SonolumeError(f"downbeat shift must be a whole number of beats, not "
                            f"{downbeat_shift!r}")
    return int(meter), int(downbeat_shift)


# ---------------------------------------------------------------------------------------
# Downbeats


def _standardise(x: np.ndarray) -> np.ndarray:
    """(x - median) / spread, robust to a few huge values (a drop's first hit)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x
    med = float(np.median(x))
    q75, q25 = np.percentile(x, [75, 25])
    spread = max(float(q75 - q25), float(np.std(x)) * 0.5, 1e-9)
    return (x - med) / spread


def _interval_means(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Mean of (K, d) ``values`` over each frame interval [bounds[i], bounds[i+1])."""
    k = values.shape[0]
    cum = np.concatenate([np.zeros((1, values.shape[1])),
                          np.cumsum(values, axis=0, dtype=np.float64)])
    b = np.clip(bounds, 0, k)
    lo, hi = b[:-1], np.maximum(b[1:], b[:-1] + 1)
    hi = np.minimum(hi, k)
    width = np.maximum(hi - lo, 1)[:, None]
    return (cum[hi] - cum[lo]) / width


def beat_accents(frames: dict[str, np.ndarray], beats: np.ndarray,
                 frame_rate: float) -> np.ndarray:
    """One accent value per beat (standardised sum of onset, low band, harmony change)."""
    n = len(beats)
    onset = np.asarray(frames["onset"], dtype=np.float64)
    k = onset.size
    if n == 0 or k == 0:
        return np.zeros(n)
    bf = np.clip(np.rint(np.asarray(beats) * frame_rate).astype(np.int64), 0, k - 1)
    # Onset: the strongest flux within a frame before to two after the beat (the flux
    # peaks within ~5 ms of an onset, the beat grid is ~23 ms).
    idx = np.clip(bf[:, None] + np.arange(-1, 3)[None, :], 0, k - 1)
    acc_onset = onset[idx].max(axis=1)
    bass = np.asarray(frames["bass"], dtype=np.float64)
    span = max(int(round(ACCENT_BASS_S * frame_rate)), 1)
    idx = np.clip(bf[:, None] + np.arange(span)[None, :], 0, k - 1)
    acc_bass = np.log(bass[idx].mean(axis=1) + 1e-4)
    chroma = np.asarray(frames["chroma"], dtype=np.float64).reshape(k, -1)
    chroma = chroma / np.maximum(chroma.max(axis=1, keepdims=True), 1e-12)
    bounds = np.concatenate([[0], bf, [k]])
    seg = _interval_means(chroma, bounds)  # seg[i] = before beat i, seg[i + 1] = after
    a, b = seg[:-1], seg[1:]
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                      1e-12)
    acc_harm = 1.0 - cos
    w = ACCENT_WEIGHTS
    return (w["onset"] * _standardise(acc_onset) + w["low"] * _standardise(acc_bass)
            + w["harmony"] * _standardise(acc_harm))


def downbeat_phase(accents: np.ndarray, meter: int) -> int:
    """The beat index (0..meter-1) of the first downbeat: the grouping with most accent."""
    if len(accents) == 0:
        return 0
    scores = [float(np.mean(accents[p::meter])) if len(accents[p::meter]) else -np.inf
              for p in range(meter)]
    return int(np.argmax(scores))


# ---------------------------------------------------------------------------------------
# Sections


def _unit_bounds(beat_frames: np.ndarray, k: int, frame_rate: float) -> np.ndarray:
    """Frame boundaries of the analysis units: beats (grouped on long tracks), or a
    half-second grid without beats. Always starts at 0 and ends at ``k``."""
    if beat_frames.size >= 2:
        group = max(1, math.ceil((beat_frames.size + 1) / MAX_UNITS))
        inner = beat_frames[::group]
    else:
        step = max(int(round(NO_BEAT_UNIT_S * frame_rate)), 1)
        group = max(1, math.ceil(k / step / MAX_UNITS))
        inner = np.arange(step * group, k, step * group)
    inner = np.unique(inner[(inner > 0) & (inner < k)])
    return np.concatenate([[0], inner, [k]]).astype(np.int64)


def _unit_features(frames: dict[str, np.ndarray], bounds: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Beat-synchronous (chroma, timbre), each (d, units): median chroma, mean MFCCs."""
    import librosa

    k = int(bounds[-1])
    chroma = np.asarray(frames["chroma"], dtype=np.float64).reshape(k, -1)
    chroma = chroma / np.maximum(chroma.max(axis=1, keepdims=True), 1e-12)
    idx = [int(b) for b in bounds[1:-1]]
    csync = librosa.util.sync(chroma.T, idx, aggregate=np.median, pad=True)
    if "mfcc" in frames:
        timbre = np.asarray(frames["mfcc"], dtype=np.float64).reshape(k, -1)
    else:  # an analysis made before MFCCs were kept: log band levels stand in
        timbre = np.log(np.stack([np.asarray(frames[b], dtype=np.float64)
                                  for b in ("bass", "mid", "treble")], axis=1) + 1e-4)
    msync = librosa.util.sync(timbre.T, idx, aggregate=np.mean, pad=True)
    msync = (msync - msync.mean(axis=1, keepdims=True)) / (
        msync.std(axis=1, keepdims=True) + 1e-9)
    return csync, msync


def _similarity(csync: np.ndarray, msync: np.ndarray) -> np.ndarray:
    """Unit-by-unit cosine similarity of the centred, standardised features (timbre and
    harmony weighted alike), in [-1, 1]."""
    c = csync - csync.mean(axis=1, keepdims=True)
    c = c / (c.std() + 1e-9)
    f = np.concatenate([msync / np.sqrt(msync.shape[0]), c / np.sqrt(c.shape[0])], axis=0)
    f = f / np.maximum(np.linalg.norm(f, axis=0, keepdims=True), 1e-9)
    return f.T @ f


def _checkerboard(half: int) -> np.ndarray:
    """Foote's kernel, Gaussian-tapered: +1 within the past and within the future block,
    -1 across them; each sign sums to 1, so novelty is a difference of mean similarities."""
    x = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (x / (0.5 * half)) ** 2)
    sign = np.sign(x)
    k = np.outer(sign, sign) * np.outer(taper, taper)
    pos, neg = k[k > 0].sum(), -k[k < 0].sum()
    return np.where(k > 0, k / pos, k / neg)


def novelty(sim: np.ndarray, half: int) -> np.ndarray:
    """Per unit boundary i (before unit i): mean similarity within the ``half`` units
    either side minus across them; ~0 inside one texture, up to 2 at a clean change."""
    n = sim.shape[0]
    kern = _checkerboard(half)
    padded = np.pad(sim, half, mode="reflect")
    out = np.zeros(n)
    for i in range(n):
        out[i] = float(np.sum(padded[i:i + 2 * half, i:i + 2 * half] * kern))
    out[0] = 0.0
    return out


def _boundaries(nov: np.ndarray, min_units: int) -> list[int]:
    """Unit indices where sections start (besides 0): the strongest novelty peaks above
    :data:`NOVELTY_THRESHOLD`, at least ``min_units`` apart and from either end."""
    n = nov.size
    order = np.argsort(-nov, kind="stable")
    chosen: list[int] = []
    for i in order:
        if nov[i] < NOVELTY_THRESHOLD:
            break
        if i < min_units or n - i < min_units:
            continue
        if any(abs(int(i) - c) < min_units for c in chosen):
            continue
        lo, hi = max(i - 2, 0), min(i + 3, n)
        if nov[i] < nov[lo:hi].max():
            continue
        chosen.append(int(i))
    return sorted(chosen)


def _recurrence(csync: np.ndarray, msync: np.ndarray) -> np.ndarray:
    """Which beats repeat which: librosa's k-nearest-neighbour recurrence (affinity) of
    four-beat chroma sequences plus timbre. A beat's neighbours are the beats playing the
    same material, wherever it returns, so the density of links between two sections says
    whether one repeats the other."""
    import librosa

    feats = np.concatenate([librosa.feature.stack_memory(csync, n_steps=4, mode="edge"),
                            msync], axis=0)
    rec = librosa.segment.recurrence_matrix(feats, width=3, mode="affinity", sym=True,
                                            metric="cosine")
    return np.asarray(rec, dtype=np.float64)


def _block_similarity(m: np.ndarray, edges: list[int]) -> np.ndarray:
    """Mean of ``m`` over each pair of segments, normalised by the segments' own means."""
    blocks = list(zip(edges[:-1], edges[1:]))
    block = np.array([[m[a:b, c:d].mean() for c, d in blocks] for a, b in blocks])
    diag = np.sqrt(np.maximum(np.diag(block), 1e-9))
    return block / np.outer(diag, diag)


def _label_segments(sim: np.ndarray, rec: np.ndarray | None, edges: list[int]) -> list[int]:
    """A type per segment. A segment repeats an earlier type when, averaged over that
    type's segments, both the recurrence density between them (same harmony in the same
    order: at least :data:`SAME_SECTION_RECURRENCE`) and the texture similarity (at least
    :data:`SAME_SECTION_SIMILARITY`) are high; it joins the best such type, else starts a
    new one. Either alone over-merges: an intro and a build over the same pad chords
    recur (0.73) but sound different (0.46, demo track)."""
    cos = _block_similarity(sim, edges)
    density = _block_similarity(rec, edges) if rec is not None else cos
    types: list[int] = []
    members: dict[int, list[int]] = {}
    for i in range(len(edges) - 1):
        best, best_score = -1, -np.inf
        for typ, segs in members.items():
            r = float(np.mean([density[i, j] for j in segs]))
            c = float(np.mean([cos[i, j] for j in segs]))
            if r >= SAME_SECTION_RECURRENCE and c >= SAME_SECTION_SIMILARITY and r + c > best_score:
                best, best_score = typ, r + c
        if best < 0:
            best = len(members)
            members[best] = []
        members[best].append(i)
        types.append(best)
    return types


def _snap(t: float, grid: np.ndarray) -> float:
    if grid.size == 0:
        return t
    return float(grid[int(np.argmin(np.abs(grid - t)))])


def find_sections(frames: dict[str, np.ndarray], beats: np.ndarray, downbeats: np.ndarray,
                  meter: int, duration: float, frame_rate: float) -> tuple[Section, ...]:
    """Labelled sections covering [0, duration], boundaries on downbeats."""
    k = int(np.asarray(frames["onset"]).size)
    if k < 2 or duration <= 0:
        return (Section(0.0, max(float(duration), 0.0), "A"),)
    bf = np.clip(np.rint(np.asarray(beats) * frame_rate).astype(np.int64), 0, k)
    bounds = _unit_bounds(bf, k, frame_rate)
    n = len(bounds) - 1
    unit_times = bounds / frame_rate
    unit_times[-1] = duration
    if len(beats) >= 2:
        bar_s = meter * float(np.median(np.diff(beats)))
    else:
        bar_s = 2.0
    min_s = MIN_SECTION_BARS * bar_s
    if n < 8 or duration < 2 * min_s:
        return (Section(0.0, float(duration), "A"),)
    csync, msync = _unit_features(frames, bounds)
    sim = _similarity(csync, msync)
    units_per_bar = n / max(duration / bar_s, 1e-9)
    min_units = max(int(round(MIN_SECTION_BARS * units_per_bar)), 2)
    half = max(int(round(NOVELTY_BARS * units_per_bar)), 2)
    starts = _boundaries(novelty(sim, half), min_units)
    grid = np.asarray(downbeats, dtype=np.float64) if len(downbeats) else unit_times
    # Snap to the nearest downbeat; label on the unit grid the snapped time falls on.
    cuts = sorted({_snap(float(unit_times[i]), grid) for i in starts})
    cuts = [c for c in cuts if 0.0 < c < duration]
    edge_units = [0, *[int(np.argmin(np.abs(unit_times - c))) for c in cuts], n]
    types = _label_segments(sim, _recurrence(csync, msync) if n > 16 else None, edge_units)
    edges = [0.0, *cuts, float(duration)]
    sections = []
    for a, b, typ in zip(edges[:-1], edges[1:], types):
        if sections and sections[-1][2] == typ:
            sections[-1][1] = b
        else:
            sections.append([a, b, typ])
    names: dict[int, str] = {}
    out = []
    for a, b, typ in sections:
        if typ not in names:
            names[typ] = _letter(len(names))
        out.append(Section(float(a), float(b), names[typ]))
    return tuple(out)


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"S{i + 1}"


# ---------------------------------------------------------------------------------------
# Entry points


def _fill_gaps(beats: np.ndarray) -> np.ndarray:
    """Beats the tracker skipped (an interval near 2x, 3x... the median) put back evenly,
    so counting every ``meter``-th beat stays on the bar after the gap."""
    d = np.diff(beats)
    med = float(np.median(d))
    if not med > 0 or not np.any(d > 1.5 * med):
        return beats
    out = [beats[:1]]
    for a, b, step in zip(beats[:-1], beats[1:], d):
        k = int(round(step / med))
        if step > 1.5 * med and k >= 2:
            out.append(a + (b - a) * np.arange(1, k) / k)
        out.append(np.array([b]))
    return np.concatenate(out)


def extend_beats(beats: np.ndarray, duration: float) -> np.ndarray:
    """The tracked beats with skipped ones filled in, continued at the tracked period over
    what the tracker left out at either end (an intro or outro without drums), so bars
    cover the whole track."""
    beats = np.asarray(beats, dtype=np.float64)
    if beats.size < 4:
        return beats.copy()
    beats = _fill_gaps(beats)

    def fit(b: np.ndarray) -> tuple[float, float]:
        # Beat times sit on a ~23 ms frame grid; a line through 16 of them is far more
        # precise than any one interval (the median is off by ~2%).
        slope, icpt = np.polyfit(np.arange(b.size, dtype=np.float64), b, 1)
        return float(slope), float(icpt)

    period, t0 = fit(beats[:16])
    n_before = int(np.floor(t0 / period + 1e-6)) if period > 0 else 0
    before = t0 - period * np.arange(n_before, 0, -1)
    period, t_end = fit(beats[-16:])
    t_end += period * (min(beats.size, 16) - 1)
    n_after = int(np.floor((duration - t_end) / period - 1e-6)) if period > 0 else 0
    after = t_end + period * np.arange(1, max(n_after, 0) + 1)
    return np.concatenate([before[before >= 0], beats, after[after < duration]])


def structure_from_raw(raw, meter: int = 4, downbeat_shift: int = 0) -> Structure:
    """Bars and sections from a frame-level analysis (:class:`~engine.audio.analyze.
    RawAnalysis`): no decoding, so it costs well under a second per minute of audio."""
    from engine.audio.frames import FRAME_RATE

    meter, shift = check_meter(meter, downbeat_shift)
    beats = extend_beats(raw.beat_times, float(raw.duration))
    if beats.size:
        accents = beat_accents(raw.frames, beats, FRAME_RATE)
        phase = (downbeat_phase(accents, meter) + shift) % meter
        downbeats = beats[phase::meter].copy()
    else:
        downbeats = np.zeros(0, dtype=np.float64)
    sections = find_sections(raw.frames, beats, downbeats, meter, float(raw.duration),
                             FRAME_RATE)
    return Structure(beats=beats.copy(), downbeats=downbeats, meter=meter, sections=sections,
                     duration=float(raw.duration))


def structure_cache_path(analysis_entry: Path, meter: int, downbeat_shift: int) -> Path:
    """The structure's cache file beside the analysis entry it was computed from."""
    return analysis_entry.with_name(
        f"{analysis_entry.stem}-structure{STRUCTURE_VERSION}-m{meter}s{downbeat_shift}.json")


def analyze_structure(path, meter: int = 4, downbeat_shift: int = 0, cache_dir=None,
                      progress=None, cancel=None, use_cache: bool = True) -> Structure:
    """Beats, downbeats and labelled sections of an audio file.

    Cached with the analysis by file content (``cache_dir`` as for
    :func:`engine.audio.analyze.analyze`); ``downbeat_shift`` moves the first downbeat
    by N beats (negative or positive). ``progress(fraction, stage)`` and ``cancel`` as for
    ``analyze``. SonolumeError for unreadable files or a bad meter."""
    from engine.atomic import write_json
    from engine.audio import analyze as an

    meter, shift = check_meter(meter, downbeat_shift)
    path = Path(path)
    entry = analysis_entry = None
    if use_cache:
        an.check_audio_path(path)
        analysis_entry = an.cache_path(path, cache_dir)  # hashes the file once for both
        entry = structure_cache_path(analysis_entry, meter, shift)
        if entry.is_file():
            try:
                import json

                return Structure.from_json(json.loads(entry.read_text(encoding="utf-8")))
            except (OSError, ValueError, SonolumeError):
                pass  # a corrupt or foreign entry is recomputed
    raw = an.raw_analysis(path, cache_dir=cache_dir, progress=progress, cancel=cancel,
                          use_cache=use_cache, entry=analysis_entry)
    if progress is not None:
        progress(0.95, "finding bars and sections")
    structure = structure_from_raw(raw, meter, shift)
    if entry is not None:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            write_json(entry, structure.to_json(), indent=None)
        except OSError as exc:
            import warnings

            warnings.warn(f"could not write the structure cache {entry}: {exc}", stacklevel=2)
    if progress is not None:
        progress(1.0, "done")
    return structure
