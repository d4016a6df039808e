"""Arranging: where a show changes style, which style each stretch gets.

Change rules (:class:`ChangeRule`):

* ``bars:N`` — every N bars, on the downbeat (counted from the first downbeat);
* ``sections`` — on the track's section boundaries (each moved to the nearest downbeat);
* ``times:T1,T2,...`` — at the user's times, each moved to the nearest beat;

then projectM's options on top: ``min_seconds`` drops a change that would leave a shorter
segment, ``max_seconds`` adds changes on downbeats inside longer ones, and ``hard_cuts``
adds a cut where the loudness jumps (the last tenth of a second louder than
``cut_sensitivity`` times the two seconds before, and louder than a floor, at least
``cut_min_gap`` seconds after the previous hard cut), moved to the nearest beat.

Styles: with ``sections``, every section label gets one style (in order of first
appearance, cycling through the list), so a returning chorus looks the same each time;
otherwise segments take the styles in turn. :func:`auto_styles` picks one style per label
from a list with the suggestion ranking (:mod:`engine.audio.suggest`), each label judged
on its own stretch of music.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from engine.scene.scene import CUT, SceneError, Segment, Transition
from engine.scene.timing import BeatGrid

CHANGE_KINDS = {
    "bars": "every N bars, on the downbeat (bars:8)",
    "sections": "on the track's section boundaries (verse, chorus...), on downbeats",
    "times": "at the given times in seconds, each on its nearest beat (times:12,40.5)",
}
HARD_CUT_SHORT_S = 0.1
HARD_CUT_LONG_S = 2.0
HARD_CUT_FLOOR = 0.15  # normalised rms below which a jump is not a musical event


@dataclass(frozen=True)
class ChangeRule:
    kind: str = "sections"
    bars: int = 8
    times: tuple[float, ...] = ()
    min_seconds: float = 0.0
    max_seconds: float = math.inf
    hard_cuts: bool = False
    cut_sensitivity: float = 2.0
    cut_min_gap: float = 20.0

    def __post_init__(self):
        if self.kind not in CHANGE_KINDS:
            raise SceneError(f"unknown change rule '{self.kind}' (use: sections, bars:N, "
                             "times:T1,T2,...)")
        if self.kind == "bars" and not (isinstance(self.bars, int) and 1 <= self.bars <= 1024):
            raise SceneError(f"bars:N needs N from 1 to 1024, not {self.bars!r}")
        for name in ("min_seconds", "cut_min_gap"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise SceneError(f"{name.replace('_', ' ')} must be 0 or more, not {v}")
        if not (self.max_seconds > 0 and not math.isnan(self.max_seconds)):
            raise SceneError(f"max seconds must be more than 0, not {self.max_seconds}")
        if self.max_seconds < 2 * self.min_seconds:
            raise SceneError(f"max segment length ({self.max_seconds:g} s) must be at least "
                             f"twice the minimum ({self.min_seconds:g} s)")
        if not (math.isfinite(self.cut_sensitivity) and self.cut_sensitivity > 1):
            raise SceneError(f"hard-cut sensitivity must be more than 1 (a ratio of "
                             f"loudness), not {self.cut_sensitivity}")
        for t in self.times:
            if not (math.isfinite(t) and t > 0):
                raise SceneError(f"change times must be more than 0 s, not {t}")

    @classmethod
    def parse(cls, text: str, **options) -> ChangeRule:
        """``sections``, ``bars:8`` or ``times:12,40.5`` plus keyword options."""
        kind, _, arg = str(text).strip().partition(":")
        try:
            if kind == "bars":
                return cls("bars", bars=int(arg or 8), **options)
            if kind == "times":
                times = tuple(float(x) for x in arg.split(",") if x.strip())
                if not times:
                    raise ValueError
                return cls("times", times=times, **options)
        except ValueError:
            raise SceneError(f"bad change rule '{text}': use sections, bars:N or "
                             "times:T1,T2,...") from None
        if arg:
            raise SceneError(f"bad change rule '{text}': 'sections' takes no value")
        return cls(kind, **options)

    @property
    def text(self) -> str:
        if self.kind == "bars":
            return f"bars:{self.bars}"
        if self.kind == "times":
            return "times:" + ",".join(f"{t:g}" for t in self.times)
        return self.kind


def hard_cut_times(features, grid: BeatGrid, sensitivity: float = 2.0,
                   min_gap: float = 20.0) -> list[float]:
    """Times of sudden loudness jumps (see the module docstring), on beats."""
    rms = np.asarray(features.rms, np.float64)
    fps = float(features.fps)
    short = max(1, round(HARD_CUT_SHORT_S * fps))
    long = max(short + 1, round(HARD_CUT_LONG_S * fps))
    c = np.concatenate([[0.0], np.cumsum(rms)])
    out: list[float] = []
    for i in range(long, len(rms) - short + 1):
        now = (c[i + short] - c[i]) / short
        before = (c[i] - c[i - long]) / long
        if now > HARD_CUT_FLOOR and now > sensitivity * max(before, 1e-3):
            t = grid.nearest_beat(i / fps)
            if not out or t - out[-1] >= min_gap:
                if 0 < t < grid.duration:
                    out.append(t)
    return out


def change_times(rule: ChangeRule, grid: BeatGrid, features=None) -> list[tuple[float, bool]]:
    """The boundaries inside the track as ``(time, is_hard_cut)``, ascending."""
    duration = grid.duration
    if rule.kind == "bars":
        cands = [float(t) for t in grid.downbeats[rule.bars::rule.bars]]
    elif rule.kind == "sections":
        cands = [grid.nearest_downbeat(s.start) for s in grid.sections[1:]]
    else:
        cands = [grid.nearest_beat(t) for t in rule.times]
    cands = sorted({round(t, 6) for t in cands if 0 < t < duration - 1e-6})
    hard = []
    if rule.hard_cuts and features is not None:
        hard = hard_cut_times(features, grid, rule.cut_sensitivity, rule.cut_min_gap)
    events = sorted([(t, False) for t in cands] + [(round(t, 6), True) for t in hard])

    # Minimum length: keep a change only if it leaves min_seconds behind it; a hard cut
    # replaces a plain change that stands too close before it.
    kept: list[tuple[float, bool]] = []
    for t, is_hard in events:
        last = kept[-1][0] if kept else 0.0
        if t - last >= max(rule.min_seconds, 1e-6):
            kept.append((t, is_hard))
        elif is_hard and kept and not kept[-1][1]:
            prev = kept[-2][0] if len(kept) > 1 else 0.0
            if t - prev >= rule.min_seconds:
                kept[-1] = (t, True)
    while kept and duration - kept[-1][0] < rule.min_seconds:
        kept.pop()

    # Maximum length: split long stretches on downbeats (else beats).
    if math.isfinite(rule.max_seconds):
        out: list[tuple[float, bool]] = []
        bounds = [0.0] + [t for t, _ in kept] + [duration]
        for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
            cur = a
            while b - cur > rule.max_seconds:
                t = _split_point(grid, cur, cur + rule.max_seconds, rule.min_seconds)
                if t is None or b - t < rule.min_seconds:
                    break
                out.append((t, False))
                cur = t
            if k < len(kept):
                out.append(kept[k])
        kept = out
    return kept


def _split_point(grid: BeatGrid, start: float, latest: float, min_len: float) -> float | None:
    lo = start + max(min_len, 1e-6)
    for pool in (grid.downbeats, grid.beats):
        inside = pool[(pool >= lo - 1e-9) & (pool <= latest + 1e-9)]
        if inside.size:
            return float(inside[-1])
    return None


def arrange(styles: list[str], rule: ChangeRule, grid: BeatGrid, transition: Transition = CUT,
            features=None) -> tuple[list[Segment], list[Transition]]:
    """Segments and transitions for ``styles`` (keys, used in turn or per section label)
    under ``rule``. Hard cuts get a ``cut``, every other boundary ``transition``."""
    if not styles:
        raise SceneError("give at least one style to arrange")
    if not math.isfinite(grid.duration) or grid.duration <= 0:
        raise SceneError("arranging needs the track's length (analyse the track first)")
    changes = change_times(rule, grid, features)
    bounds = [0.0] + [t for t, _ in changes] + [grid.duration]
    if rule.kind == "sections":
        keys = _by_label(styles, grid, bounds)
    else:
        keys = [styles[i % len(styles)] for i in range(len(bounds) - 1)]
    segments = [Segment(k, a, b) for k, a, b in zip(keys, bounds, bounds[1:])]
    transitions = [CUT if hard else transition for _, hard in changes]
    return _merge_repeats(segments, transitions)


def _by_label(styles: list[str], grid: BeatGrid, bounds: list[float]) -> list[str]:
    order: dict[str, int] = {}
    for s in grid.sections:
        order.setdefault(s.label, len(order))
    keys, piece, last_section = [], 0, None
    for a in bounds[:-1]:
        sec = _section_at(grid, a)
        piece = piece + 1 if sec == last_section else 0
        last_section = sec
        label = grid.sections[sec].label if grid.sections else "A"
        keys.append(styles[(order.get(label, 0) + piece) % len(styles)])
    return keys


def _section_at(grid: BeatGrid, t: float) -> int:
    best = 0
    for i, s in enumerate(grid.sections):
        if s.start <= t + grid.beat_period / 2:
            best = i
    return best


def _merge_repeats(segments, transitions):
    """Neighbours with the same style become one segment (a change to the same picture is
    no change)."""
    segs, trans = [segments[0]], []
    for seg, tr in zip(segments[1:], transitions):
        if seg.style == segs[-1].style:
            segs[-1] = replace(segs[-1], end=seg.end)
        else:
            segs.append(seg)
            trans.append(tr)
    return segs, trans


# -- auto-arrange --------------------------------------------------------------------------

def section_features(features, start: float, end: float):
    """The features of one stretch with its own track-level stats, so
    :func:`engine.audio.describe.describe` judges that stretch and not the whole track.
    Loudness and onset rate are the track's scaled by the stretch's share; percussion and
    brightness are measured on the stretch's frames."""
    part = features.slice(start, max(end - start, 1.0 / features.fps))
    st = dict(features.stats or {})
    whole_rms = float(np.mean(features.rms)) if features.n_frames else 0.0
    part_rms = float(np.mean(part.rms)) if part.n_frames else 0.0
    if "loudness_db" in st:
        st["loudness_db"] = float(st["loudness_db"]) + 20 * math.log10(
            max(part_rms, 1e-6) / max(whole_rms, 1e-6))
    whole_on = float(np.mean(features.onset)) if features.n_frames else 0.0
    part_on = float(np.mean(part.onset)) if part.n_frames else 0.0
    if "onset_rate" in st:
        st["onset_rate"] = float(st["onset_rate"]) * part_on / max(whole_on, 1e-6)
    st.pop("percussive_ratio", None)
    st.pop("brightness", None)
    part.stats = st
    return part


def auto_styles(candidates: list, features, grid: BeatGrid, clip=None) -> dict[str, object]:
    """``{section label: style}``: for each label (its longest occurrence) the
    best-ranked candidate not already given to another label, or the best one when all
    are taken. ``candidates``: library Styles (anything :func:`rank_styles` ranks)."""
    from engine.audio.describe import describe
    from engine.audio.suggest import rank_styles

    if not candidates:
        raise SceneError("no styles to choose from")
    longest: dict[str, tuple[float, float]] = {}
    for s in grid.sections:
        a, b = longest.get(s.label, (0.0, 0.0))
        if s.end - s.start > b - a:
            longest[s.label] = (s.start, s.end)
    chosen: dict[str, object] = {}
    used: set[int] = set()
    for label, (a, b) in longest.items():
        ranked = rank_styles(describe(section_features(features, a, b)), candidates, clip=clip)
        pick = next((s for s, _, _ in ranked if id(s) not in used), ranked[0][0])
        used.add(id(pick))
        chosen[label] = pick
    return chosen


def arrange_by_labels(chosen: dict[str, str], grid: BeatGrid, transition: Transition = CUT,
                      rule: ChangeRule | None = None, features=None):
    """Segments on section boundaries with ``chosen[label]`` (a style key) for each."""
    rule = rule or ChangeRule("sections")
    if rule.kind != "sections":
        raise SceneError("auto-arrange changes on sections")
    changes = change_times(rule, grid, features)
    bounds = [0.0] + [t for t, _ in changes] + [grid.duration]
    keys = []
    for a in bounds[:-1]:
        label = grid.sections[_section_at(grid, a)].label if grid.sections else "A"
        keys.append(chosen.get(label) or next(iter(chosen.values())))
    segments = [Segment(k, a, b) for k, a, b in zip(keys, bounds, bounds[1:])]
    transitions = [CUT if hard else transition for _, hard in changes]
    return _merge_repeats(segments, transitions)
