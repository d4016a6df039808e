"""Edits of a show's arrangement, as values: what the app's timeline (and its undo stack)
and scripts apply to a :class:`~engine.scene.Scene`.

An :class:`Arrangement` is the editable part of a scene: its styles, segments and the
transition at each boundary. Every edit returns a new arrangement (the old one stays valid
for undo) and keeps the scene's rules: segments contiguous from 0, boundaries on downbeats
(on beats where a bar is too long for the segment), one transition per boundary. Illegal
edits raise :class:`~engine.scene.SceneError` with a sentence a user can act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from engine.scene.scene import CUT, Scene, SceneError, Segment, Transition, _style_key
from engine.scene.timing import BeatGrid


@dataclass(frozen=True)
class Arrangement:
    styles: tuple[tuple[str, object], ...]  # (key, Style or CPPN), in first-use order
    segments: tuple[Segment, ...]
    transitions: tuple[Transition, ...]

    @classmethod
    def of(cls, scene: Scene) -> Arrangement:
        return cls(tuple(scene.styles.items()), tuple(scene.segments),
                   tuple(scene.transitions))

    def apply(self, scene: Scene) -> None:
        """Make ``scene`` show this arrangement (its track, reactivity and automation stay)."""
        used = {s.style for s in self.segments}
        styles = {k: v for k, v in self.styles if k in used}
        scene.set_segments(list(self.segments), list(self.transitions), styles=styles)

    def style_name(self, key: str) -> str:
        style = dict(self.styles).get(key)
        return str(getattr(style, "name", key))


def _check_index(arr: Arrangement, index: int, what: str = "segment") -> None:
    if not 0 <= index < len(arr.segments):
        raise SceneError(f"there is no {what} {index + 1} (the show has "
                         f"{len(arr.segments)} segments)")


def _snap(grid: BeatGrid, t: float, lo: float, hi: float) -> float | None:
    """The downbeat nearest ``t`` strictly inside (lo, hi) with a beat to spare on either
    side; else the nearest such beat; None when not even that fits."""
    margin = grid.beat_period * 0.5
    for marks in (grid.downbeats, grid.beats):
        inside = [float(x) for x in marks if lo + margin < x < hi - margin]
        if inside:
            return min(inside, key=lambda x: abs(x - t))
    return None


def split(arr: Arrangement, grid: BeatGrid, t: float) -> Arrangement:
    """Cut the segment under ``t`` in two at the nearest downbeat; both halves keep the
    style and the new boundary is a cut (choose its transition afterwards)."""
    i = segment_at(arr, t)
    seg = arr.segments[i]
    end = seg.end if math.isfinite(seg.end) else grid.duration
    at = _snap(grid, t, seg.start, end)
    if at is None:
        raise SceneError(f"segment {i + 1} is too short to split (it needs two beats)")
    segments = list(arr.segments)
    segments[i:i + 1] = [replace(seg, end=at), replace(seg, start=at)]
    transitions = list(arr.transitions)
    transitions.insert(i, CUT)
    return replace(arr, segments=tuple(segments), transitions=tuple(transitions))


def merge(arr: Arrangement, index: int) -> Arrangement:
    """Join segment ``index`` with the one after it; the first one's style wins."""
    _check_index(arr, index)
    if index + 1 >= len(arr.segments):
        raise SceneError("the last segment has nothing after it to merge with")
    a, b = arr.segments[index], arr.segments[index + 1]
    segments = list(arr.segments)
    segments[index:index + 2] = [replace(a, end=b.end)]
    transitions = list(arr.transitions)
    del transitions[index]
    return replace(arr, segments=tuple(segments), transitions=tuple(transitions))


def assign(arr: Arrangement, index: int, style) -> Arrangement:
    """Show ``style`` (a library Style or CPPN) in segment ``index``."""
    _check_index(arr, index)
    key = _style_key(style)
    styles = dict(arr.styles)
    known = styles.get(key)
    if known is not None and known is not style and \
            getattr(known, "weights_path", None) != getattr(style, "weights_path", None):
        raise SceneError(f"another style is already called '{key}' in this show")
    styles.setdefault(key, style)
    segments = list(arr.segments)
    segments[index] = replace(segments[index], style=key)
    return replace(arr, styles=tuple(styles.items()), segments=tuple(segments))


def set_transition(arr: Arrangement, boundary: int, transition: Transition) -> Arrangement:
    """The transition into segment ``boundary`` (1 = between the first and second)."""
    if not 1 <= boundary < len(arr.segments):
        raise SceneError(f"there is no boundary {boundary} (the show has "
                         f"{len(arr.segments) - 1})")
    if not isinstance(transition, Transition):
        raise SceneError(f"not a transition: {transition!r}")
    transitions = list(arr.transitions)
    transitions[boundary - 1] = transition
    return replace(arr, transitions=tuple(transitions))


def move_boundary(arr: Arrangement, grid: BeatGrid, boundary: int, t: float) -> Arrangement:
    """Move the start of segment ``boundary`` to the downbeat nearest ``t`` (it stays
    between its neighbours' starts and ends)."""
    if not 1 <= boundary < len(arr.segments):
        raise SceneError(f"there is no boundary {boundary}")
    a, b = arr.segments[boundary - 1], arr.segments[boundary]
    end = b.end if math.isfinite(b.end) else grid.duration
    at = _snap(grid, t, a.start, end)
    if at is None:
        raise SceneError("no downbeat or beat fits there")
    segments = list(arr.segments)
    segments[boundary - 1] = replace(a, end=at)
    segments[boundary] = replace(b, start=at)
    return replace(arr, segments=tuple(segments))


def segment_at(arr: Arrangement, t: float) -> int:
    for i, seg in enumerate(arr.segments):
        if seg.start <= t < seg.end:
            return i
    return len(arr.segments) - 1 if t >= arr.segments[-1].start else 0
