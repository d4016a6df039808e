"""The Scene: the one answer to "what is drawn at time t".

A scene holds the track's features and structure, an ordered list of segments (which
style from when to when), the transition at each boundary, the reactivity preset and the
user's amounts, the seed and the automation lanes. ``scene.frame_at(t)`` turns all of it
into a :class:`Frame`: one style or two with a weight and a blend mode, each with its
:class:`~engine.reactive.FrameParams`. The app's preview and the export both ask the scene
(and draw with :class:`engine.scene.draw.SceneDrawer`), so what the preview shows at ``t``
is what the export writes at ``t``.

Timing rules, so every change lands on the music:

* segment boundaries are moved to the nearest video frame; the incoming style is drawn
  from that frame on (a ``cut`` therefore falls on the frame nearest the boundary's beat);
* a transition starts at its boundary and ends ``beats`` beats later, on a beat frame,
  never past the next boundary (it shortens to the last beat before it, or becomes a cut);
* weights follow a smoothstep of the elapsed fraction: monotone, the two summing to 1.

A single-style scene (:meth:`Scene.single`) computes exactly what the export and the
app's stage computed before scenes existed (a regression test holds it to the byte).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from engine.errors import SonolumeError
from engine.reactive.params import FrameParams, ParamTrack
from engine.scene.automation import Automation
from engine.scene.timing import BeatGrid

#: Transitions between two segments, with what they look like.
TRANSITIONS: dict[str, str] = {
    "cut": "the next style from the boundary's frame on (on the beat)",
    "crossfade": "the two pictures blended over N beats",
    "morph": "the two CPPNs' weights interpolated over N beats (one network drawn; "
             "styles of different shapes, or that do not morph smoothly, crossfade)",
    "bloom": "the next style grows out of the outgoing pattern's own bright regions "
             "over N beats",
    "zoom": "a zoom-through: the outgoing picture is flown into while the next one "
            "arrives from far out, over N beats (the CPPN draws any magnification sharp)",
}
DEFAULT_TRANSITION_BEATS = 2
MAX_TRANSITION_BEATS = 64
ZOOM_THROUGH = 3.0  # each side of a zoom transition travels e^3 ~ 20x in magnification
IDLE_WALK_SPEED = 0.08  # walk units per second with no track: alive but calm
IDLE_WALK_SCALE = 0.35
IDLE_ROTATION = 0.02  # radians per second with no track


class SceneError(SonolumeError):
    """A scene that cannot be built (overlapping segments, unknown style, bad transition)."""


@dataclass(frozen=True)
class Transition:
    kind: str = "cut"
    beats: int = 0

    def __post_init__(self):
        if self.kind not in TRANSITIONS:
            raise SceneError(f"unknown transition '{self.kind}' "
                             f"(use: {', '.join(TRANSITIONS)})")
        beats = self.beats
        if isinstance(beats, bool) or not isinstance(beats, (int, float)) or \
                not math.isfinite(beats) or beats != int(beats):
            raise SceneError(f"transition beats must be a whole number, not {beats!r}")
        beats = int(beats)
        if self.kind == "cut":
            beats = 0
        elif not 1 <= beats <= MAX_TRANSITION_BEATS:
            raise SceneError(f"a {self.kind} lasts 1 to {MAX_TRANSITION_BEATS} beats, "
                             f"not {beats}")
        object.__setattr__(self, "beats", beats)

    @classmethod
    def parse(cls, text: str) -> Transition:
        """``cut``, ``crossfade:2``, ``morph:4``, ``bloom``, ... (beats default to 2)."""
        kind, _, beats = str(text).strip().partition(":")
        if kind == "cut":
            return cls("cut")
        try:
            n = int(beats) if beats else DEFAULT_TRANSITION_BEATS
        except ValueError:
            raise SceneError(f"bad transition '{text}': give KIND or KIND:BEATS, e.g. "
                             "crossfade:2") from None
        return cls(kind, n)

    @property
    def text(self) -> str:
        return self.kind if self.kind == "cut" else f"{self.kind}:{self.beats}"


CUT = Transition("cut")


@dataclass(frozen=True)
class Segment:
    style: str  # a key of the scene's styles
    start: float
    end: float


@dataclass(frozen=True)
class LeadIn:
    """A transition already running when the scene's time 0 came: a live set recorded from
    the middle of a crossfade. From ``style`` (a key of the scene's styles) into the first
    segment, over ``start`` (before 0, or at it) to ``end`` seconds, on the same curve as
    any transition; its times are explicit, not beats, because the beats it was placed on
    lie before the recording."""

    style: str
    transition: Transition
    start: float
    end: float

    def __post_init__(self):
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise SceneError("a lead-in transition's times must be finite numbers")
        if not self.end > self.start:
            raise SceneError(f"a lead-in transition ends ({self.end:g} s) before it starts "
                             f"({self.start:g} s)")
        if self.transition.kind == "cut":
            raise SceneError("a lead-in transition cannot be a cut (a cut has no duration)")


@dataclass(frozen=True)
class Layer:
    style: str
    cppn: object
    params: FrameParams


@dataclass(frozen=True)
class Frame:
    """What to draw at one instant. ``layers`` holds one style, or the outgoing and the
    incoming one during a transition; ``mix`` is the incoming one's weight (the outgoing
    has ``1 - mix``); ``mode`` says how to combine them: ``single``, ``crossfade``,
    ``morph``, ``bloom`` or ``zoom`` (a crossfade of zoom-transformed layers)."""

    t: float
    layers: tuple[Layer, ...]
    mix: float = 0.0
    mode: str = "single"

    @property
    def single(self) -> bool:
        return len(self.layers) == 1

    @property
    def params(self) -> FrameParams:
        return self.layers[0].params

    @property
    def cppn(self):
        return self.layers[0].cppn

    @property
    def style(self) -> str:
        return self.layers[-1].style if self.mix >= 0.5 else self.layers[0].style


@dataclass(frozen=True)
class Window:
    """A transition as scheduled on the frame grid: from ``start`` to ``end`` seconds."""

    index: int  # the incoming segment
    start: float
    end: float
    transition: Transition
    note: str = ""  # why it differs from what was asked (shortened, fell back)


def _smoothstep(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


def frozen_at(lane, t: float) -> bool:
    """Whether an on/off lane (``freeze``) is on at ``t``, read as steps the way
    :meth:`~engine.scene.automation.Lane.held_since` reads it."""
    pts = lane.points
    if not pts:
        return False
    i = bisect.bisect_right(pts, (t, math.inf)) - 1
    return pts[max(i, 0)][1] >= 0.5


def _load_cppn(source):
    if hasattr(source, "load_cppn"):
        return source.load_cppn()
    if hasattr(source, "config") and hasattr(source, "hidden"):
        return source
    raise SceneError(f"not a style or CPPN: {type(source).__name__}")


def _style_key(source) -> str:
    return str(getattr(source, "id", None) or getattr(source, "name", None) or "style")


class Scene:
    """See the module docstring. Build with :meth:`single` for one style, or with
    ``Scene(styles, segments, transitions, ...)`` for a show.

    ``styles``: ``{key: Style or CPPN}`` (a library Style loads its CPPN on first use).
    ``segments``: contiguous, from 0 s; the last one's end is held to the end of the track.
    ``transitions``: one per boundary (``len(segments) - 1``), default cuts.
    ``preset``: a reactivity preset name, path or Preset; ``amounts``: the app's sliders,
    ``{target: k}`` plus ``"_all"``, each 0 (off) to a few (1 = as the preset says).

    Setters change the scene in place (the app's preview edits one scene); the export
    works on a :meth:`copy` so an edit during an export cannot tear a frame."""

    def __init__(self, styles: Mapping, segments=None, transitions=None, *, features=None,
                 structure=None, preset=None, amounts=None, seed: int = 0,
                 automation: Automation | None = None, track=None, library_dir=None,
                 meter: int = 4, downbeat_shift: int = 0, live=None,
                 lead_in: LeadIn | None = None):
        if not styles:
            raise SceneError("a scene needs at least one style")
        self.styles = dict(styles)
        self._cppns: dict[str, object] = {}
        if segments is None:
            segments = [Segment(next(iter(self.styles)), 0.0, math.inf)]
        self.features = features
        self.structure = structure
        self.track = track
        self.library_dir = library_dir
        self.meter = int(meter)
        self.downbeat_shift = int(downbeat_shift)
        self.preset = preset
        self.amounts = dict(amounts or {})
        self.seed = int(seed)
        self.automation = automation if automation is not None else Automation()
        # A live set's record (engine.scene.live_steps.LiveSteps): its steps give the
        # reactivity and its beats the grid, whatever features the track has.
        self.live = live
        # A transition running at time 0 (a live set recorded mid-transition), or None.
        self.lead_in = lead_in
        self._set_segments(list(segments), transitions)
        self._invalidate()

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def single(cls, style, *, features=None, preset=None, amounts=None, seed: int = 0,
               track=None, library_dir=None, automation: Automation | None = None) -> Scene:
        """One style for the whole track: what a plain render and the preview draw."""
        return cls({_style_key(style): style}, features=features, preset=preset,
                   amounts=amounts, seed=seed, track=track, library_dir=library_dir,
                   automation=automation)

    def copy(self, **changes) -> Scene:
        """A new scene with the same content (CPPNs shared) and ``changes`` applied
        (``features=``, ``structure=``, ``preset=``, ``amounts=``, ``seed=``, ...)."""
        kw = dict(styles=self.styles, segments=self.segments, transitions=self.transitions,
                  features=self.features, structure=self.structure, preset=self.preset,
                  amounts=self.amounts, seed=self.seed, automation=self.automation,
                  track=self.track, library_dir=self.library_dir, meter=self.meter,
                  downbeat_shift=self.downbeat_shift, live=self.live, lead_in=self.lead_in)
        kw.update(changes)
        styles = kw.pop("styles")
        segments, transitions = kw.pop("segments"), kw.pop("transitions")
        new = Scene(styles, segments, transitions, **kw)
        new._cppns = {k: v for k, v in self._cppns.items() if new.styles.get(k) is
                      self.styles.get(k)}
        return new

    def _set_segments(self, segments: list, transitions) -> None:
        if not segments:
            raise SceneError("a scene needs at least one segment")
        for i, s in enumerate(segments):
            if not isinstance(s, Segment):
                raise SceneError(f"segment {i} is not a Segment: {s!r}")
            if s.style not in self.styles:
                raise SceneError(f"segment {i} names style '{s.style}', which the scene "
                                 "does not hold")
            if not (math.isfinite(s.start) and not math.isnan(s.end)):
                raise SceneError(f"segment {i} has a time that is not a number")
            if s.start < 0:
                raise SceneError(f"segment {i} starts at {s.start:g} s, before the track")
            if not s.end > s.start:
                raise SceneError(f"segment {i} ends ({s.end:g} s) before it starts "
                                 f"({s.start:g} s)")
        if segments[0].start > 1e-6:
            raise SceneError(f"the first segment starts at {segments[0].start:g} s; it must "
                             "start at 0")
        for i, (a, b) in enumerate(zip(segments, segments[1:]), start=1):
            if b.start < a.end - 1e-6:
                raise SceneError(f"segments {i - 1} and {i} overlap ({b.start:g} s < "
                                 f"{a.end:g} s)")
            if b.start > a.end + 1e-6:
                raise SceneError(f"gap between segments {i - 1} and {i} ({a.end:g} s to "
                                 f"{b.start:g} s)")
        if transitions is None:
            transitions = [CUT] * (len(segments) - 1)
        transitions = list(transitions)
        if len(transitions) != len(segments) - 1:
            raise SceneError(f"{len(segments)} segments need {len(segments) - 1} "
                             f"transitions, not {len(transitions)}")
        for i, tr in enumerate(transitions):
            if not isinstance(tr, Transition):
                raise SceneError(f"transition {i} is not a Transition: {tr!r}")
        lead = self.lead_in
        if lead is not None and lead.style not in self.styles:
            raise SceneError(f"the lead-in transition comes from style '{lead.style}', which "
                             "the scene does not hold")
        self.segments: tuple[Segment, ...] = tuple(segments)
        self.transitions: tuple[Transition, ...] = tuple(transitions)

    # -- edits (the app's preview) ----------------------------------------------------------
    def set_features(self, features, structure=None, track=None) -> None:
        """A new track (or None: no track, the idle drift)."""
        self.features, self.structure = features, structure
        self.track = track
        self._invalidate()

    def set_reactivity(self, preset, amounts: Mapping | None = None) -> None:
        amounts = dict(amounts or {})
        if preset == self.preset and amounts == self.amounts:
            # The same reactivity (the app sets it again on leaving live): the cached
            # tracks stay. For a recorded set they are its replay, 0.6 s of the GUI
            # thread for a 2.5-minute set (the worst stall of the live soak).
            return
        self.preset = preset
        self.amounts = amounts
        self._invalidate()

    def set_amounts(self, amounts: Mapping | None) -> None:
        self.amounts = dict(amounts or {})
        self._invalidate()

    def set_seed(self, seed: int) -> None:
        self.seed = int(seed)
        self._invalidate()

    def set_automation(self, automation: Automation) -> None:
        # The reactivity tracks depend on the amount lanes only: a live hue, brightness,
        # zoom or freeze move keeps them (a rebuild costs ~70 ms on a 5-minute track).
        keep = self._tracks if automation.amount_lanes() == self.automation.amount_lanes() \
            else None
        self.automation = automation
        self._invalidate()
        if keep is not None:
            self._tracks = keep

    def set_lead_in(self, lead_in: LeadIn | None) -> None:
        self.lead_in = lead_in
        self._set_segments(list(self.segments), list(self.transitions))
        self._invalidate_schedule()

    def set_style(self, style) -> None:
        """Show one style for the whole track (the library click of the app)."""
        self.lead_in = None
        self.styles = {_style_key(style): style}
        self._cppns = {}
        self._set_segments([Segment(_style_key(style), 0.0, math.inf)], None)
        self._invalidate_schedule()

    def set_segments(self, segments, transitions=None, styles: Mapping | None = None) -> None:
        if styles is not None:
            styles = dict(styles)
            lead = self.lead_in  # an edit keeps the style a lead-in comes from
            if lead is not None and lead.style not in styles and lead.style in self.styles:
                styles[lead.style] = self.styles[lead.style]
            self.styles = styles
            self._cppns = {k: v for k, v in self._cppns.items() if k in self.styles}
        self._set_segments(list(segments), transitions)
        self._invalidate_schedule()

    def _invalidate_schedule(self) -> None:
        """After a change of styles or segments only: the reactivity depends on the track,
        preset, amounts, seed and automation, not on which style shows it, so its cached
        tracks stay (a rebuild for a 5-minute song costs ~60 ms of the preview's thread on
        every library click)."""
        self._windows = None
        self._starts = None

    def _invalidate(self) -> None:
        self._tracks: dict[int, ParamTrack] = {}
        self._preset_obj = None
        self._grid: BeatGrid | None = None
        self._windows: list[Window] | None = None
        self._starts: list[float] | None = None
        self._offsets = tuple(c for c in ("hue", "brightness", "zoom") if c in self.automation)
        self._freeze = self.automation.lane("freeze")
        self._holds: dict[int, tuple] = {}  # a live hold's parameters, by shape

    # -- what the scene knows ---------------------------------------------------------------
    @property
    def duration(self) -> float:
        if self.features is not None:
            return float(self.features.duration)
        end = self.segments[-1].end
        return end if math.isfinite(end) else math.inf

    def refresh_grid(self) -> None:
        """A live set placed new beats: the grid and the schedule are built again (the
        reactivity stays)."""
        self._grid = None
        self._invalidate_schedule()

    @property
    def grid(self) -> BeatGrid:
        if self._grid is None and self.live is not None:
            self._grid = self.live.grid(self.meter, self.downbeat_shift)
        if self._grid is None:
            self._grid = BeatGrid.build(self.features, self.structure, meter=self.meter,
                                        downbeat_shift=self.downbeat_shift)
        return self._grid

    def cppn(self, key: str):
        cppn = self._cppns.get(key)
        if cppn is None:
            cppn = self._cppns[key] = _load_cppn(self.styles[key])
        return cppn

    def extra_inputs(self, key: str) -> int:
        return int(self.cppn(key).config.extra_inputs)

    def loaded_preset(self):
        from engine.reactive.preset import DEFAULT_PRESET, Preset, load_preset

        if self._preset_obj is None:
            p = self.preset if self.preset is not None else DEFAULT_PRESET
            self._preset_obj = p if isinstance(p, Preset) else load_preset(p, self.library_dir)
        return self._preset_obj

    def effective_preset(self):
        """The preset with each target scaled by its amount (0 = off, 1 = as is) and by
        ``_all``: the app's sliders. With no amounts set it is the preset itself."""
        preset = self.loaded_preset()
        if not self.amounts:
            return preset
        targets = {}
        for name, m in preset.targets.items():
            k = float(self.amounts.get(name, 1.0)) * float(self.amounts.get("_all", 1.0))
            if k > 0:
                targets[name] = replace(m, strength=m.strength * k, base=m.base * k)
        return replace(preset, targets=targets)

    def param_track(self, extra_inputs: int) -> ParamTrack | None:
        """Per-frame parameters for CPPNs with ``extra_inputs`` free inputs (cached);
        None without features. A live set's scene reads the steps it took (see
        :mod:`engine.scene.live_steps`)."""
        if self.live is not None:
            return self._live_track(extra_inputs)
        if self.features is None:
            return None
        track = self._tracks.get(extra_inputs)
        if track is None:
            from engine.reactive.mapping import compute_params

            track = compute_params(self.features, self.effective_preset(),
                                   extra_inputs=extra_inputs, seed=self.seed,
                                   gains=self._gains())
            self._tracks[extra_inputs] = track
        return track

    def _live_track(self, extra_inputs: int):
        drawn = self.live.drawn
        if drawn is not None and extra_inputs in drawn:
            return drawn[extra_inputs]  # the live set running now, drawing these
        track = self._tracks.get(extra_inputs)
        if track is None:
            track = self.live.replay(self.effective_preset(), self.seed, self.automation,
                                     extra_inputs)
            self._tracks[extra_inputs] = track
        return track

    def _live_hold(self, held: float, t: float, extra_inputs: int) -> FrameParams | None:
        """A live set frozen since ``held`` whose steps carry the picture held then (a take
        recorded during a freeze): the parameters of that picture; else None."""
        live = self.live
        if live is None or getattr(live, "hold", None) is None or held != live.hold_time \
                or self._freeze is None or not frozen_at(self._freeze, t):
            return None
        e = int(extra_inputs)
        got = self._holds.get(e)
        if got is not None and got[0] is live and got[1] is live.hold and got[2] == held:
            return got[3]
        params = live.held_params(self.effective_preset(), self.seed, e)
        self._holds[e] = (live, live.hold, held, params)
        return params

    def _gains(self) -> dict | None:
        lanes = self.automation.amount_lanes()
        if not lanes:
            return None
        times = self.features.times()
        overall = lanes["all"].values_at(times) if "all" in lanes else None
        gains = {}
        for target in self.effective_preset().targets:
            g = lanes[target].values_at(times) if target in lanes else None
            if overall is not None:
                g = overall if g is None else g * overall
            if g is not None:
                gains[target] = g
        return gains

    def params_at(self, t: float, extra_inputs: int) -> FrameParams:
        """The reactivity at ``t`` for a CPPN with ``extra_inputs`` inputs, automation's
        offsets applied. With no track: a slow seeded drift (alive but calm)."""
        # A frozen stretch holds the motion of its start; the offsets below still move.
        held = self._freeze.held_since(t) if self._freeze is not None else t
        hold = self._live_hold(held, t, extra_inputs)
        track = self.param_track(extra_inputs) if hold is None else None
        if hold is not None:
            params = hold
        elif track is not None:
            params = track.at(held)
        elif not extra_inputs:
            params = FrameParams.neutral(extra_inputs)
        else:
            from engine.reactive.mapping import latent_walk

            extras = latent_walk(np.array([held * IDLE_WALK_SPEED]), extra_inputs,
                                 self.seed)[0] * IDLE_WALK_SCALE
            params = FrameParams(extras=extras.astype(np.float32),
                                 rotation=IDLE_ROTATION * held)
        if self._offsets:
            a = self.automation
            params = replace(params, hue=params.hue + a.value("hue", t),
                             brightness=params.brightness * a.value("brightness", t),
                             zoom=params.zoom * a.value("zoom", t))
        return params

    # -- the schedule -----------------------------------------------------------------------
    def boundaries(self) -> list[float]:
        """Segment starts on the frame grid (the first is 0)."""
        if self._starts is None:
            g = self.grid
            self._starts = [0.0] + [g.frame_time(s.start) for s in self.segments[1:]]
        return self._starts

    def windows(self) -> list[Window]:
        """Every non-cut transition as scheduled, in order."""
        if self._windows is None:
            self._windows = self._schedule()
        return self._windows

    def _schedule(self) -> list[Window]:
        g = self.grid
        starts = self.boundaries()
        out = []
        lead = self.lead_in
        if lead is not None:  # index 0: into the first segment, from before time 0
            limit = starts[1] if len(starts) > 1 else math.inf
            end = min(lead.end, limit)
            if end > lead.start:
                kind, note = self._resolved(lead.transition, lead.style, self.segments[0].style)
                out.append(Window(0, lead.start, end, kind, note))
        for i, tr in enumerate(self.transitions, start=1):
            if tr.kind == "cut":
                continue
            b = starts[i]
            # A live set's last change has no end yet: it ran unshortened on screen.
            last = math.inf if self.live is not None else self.duration
            limit = starts[i + 1] if i + 1 < len(starts) else last
            end = g.frame_time(g.beat_after(b, tr.beats))
            note = ""
            if end > limit + 1e-9:
                beat = g.last_beat_before(limit, after=b)
                end = g.frame_time(beat) if beat is not None else b
                note = f"shortened to fit before the next change at {limit:.2f} s"
            if end <= b + 1e-9:
                continue  # not one beat fits: a cut
            kind, why = self._resolved(tr, self.segments[i - 1].style, self.segments[i].style)
            out.append(Window(i, b, end, kind, why or note))
        return out

    def _resolved(self, tr: Transition, a_key: str, b_key: str) -> tuple[Transition, str]:
        """The transition drawn between two styles, and why it is not the one asked."""
        if tr.kind == "morph":
            from engine.scene.morph import morph_fallback

            why = morph_fallback(self.cppn(a_key), self.cppn(b_key))
            if why:  # other shapes, or not smooth (measured once per pair, cached)
                return Transition("crossfade", tr.beats), f"{why}: crossfade instead of morph"
        return tr, ""

    def segment_index(self, t: float) -> int:
        return max(0, bisect.bisect_right(self.boundaries(), t + 1e-9) - 1)

    def style_at(self, t: float) -> str:
        """The key of the style of the segment that holds ``t``: what the timeline, the
        library and an export's first frame name as the style at ``t``."""
        return self.segments[self.segment_index(t)].style

    def frame_at(self, t: float) -> Frame:
        """Everything a renderer needs at ``t`` seconds."""
        t = float(t)
        i = self.segment_index(t)
        seg = self.segments[i]
        if (i > 0 and self.transitions[i - 1].kind != "cut") or \
                (i == 0 and self.lead_in is not None):
            for w in self.windows():
                if w.index == i and w.start <= t < w.end:
                    return self._transition_frame(t, w)
        return Frame(t, (self._layer(seg.style, t),))

    def _layer(self, key: str, t: float, zoom: float = 1.0) -> Layer:
        cppn = self.cppn(key)
        params = self.params_at(t, int(cppn.config.extra_inputs))
        if zoom != 1.0:
            params = replace(params, zoom=params.zoom * zoom)
        return Layer(key, cppn, params)

    def _transition_frame(self, t: float, w: Window) -> Frame:
        a_key = self.lead_in.style if w.index == 0 else self.segments[w.index - 1].style
        b_key = self.segments[w.index].style
        u = (t - w.start) / (w.end - w.start)
        mix = _smoothstep(u)
        if mix <= 0.0:
            return Frame(t, (self._layer(a_key, t),))
        kind = w.transition.kind
        if kind == "zoom":
            a = self._layer(a_key, t, zoom=math.exp(ZOOM_THROUGH * mix))
            b = self._layer(b_key, t, zoom=math.exp(-ZOOM_THROUGH * (1.0 - mix)))
        else:
            a, b = self._layer(a_key, t), self._layer(b_key, t)
        return Frame(t, (a, b), mix=mix, mode=kind)

    # -- description ------------------------------------------------------------------------
    def describe(self) -> list[str]:
        """One line per segment and transition, for ``show info`` and logs."""
        g = self.grid
        lines = []
        windows = {w.index: w for w in self.windows()}
        if 0 in windows:
            w = windows[0]
            name = getattr(self.styles[self.lead_in.style], "name", self.lead_in.style)
            lines.append(f"{w.start:8.2f} - {w.end:8.2f} s  from {name} -> "
                         f"{w.transition.text} (running when the recording began)")
        for i, seg in enumerate(self.segments):
            end = min(seg.end, self.duration)
            name = getattr(self.styles[seg.style], "name", seg.style)
            lines.append(f"{seg.start:8.2f} - {end:8.2f} s  bar {g.bar_at(seg.start) + 1:4d}  "
                         f"{name}")
            if i + 1 < len(self.segments):
                tr = self.transitions[i]
                w = windows.get(i + 1)
                extra = f" ({w.end - w.start:.2f} s)" if w else ""
                note = f" - {w.note}" if w and w.note else ""
                lines.append(f"{'':24s}-> {tr.text}{extra}{note}")
        return lines
