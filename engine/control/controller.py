"""The Controller: control moves (from OSC, MIDI or a script) applied to a Scene "now".

Everything a performer does lands in the Scene, never beside it, so the preview (which
draws ``scene.frame_at(t)``) shows it on the next frame and a recorded set is an ordinary
show file that ``sonolume render set.json`` draws the same, frame for frame.

Moves are queued from any thread (:meth:`Controller.submit`) and applied on the thread
that owns the scene (:meth:`Controller.flush`, once per video frame in the app): a knob
sending 100 messages a second costs one automation rebuild per frame, not a hundred.

Recording (``controller.recording = True``), value and toggle controls write points at the
clock's time, shaped so the file reproduces what was on screen:

* a move at ``t`` adds a hold point just before ``t`` (the value shown until then) and the
  new value at ``t``: the lane steps at ``t`` instead of ramping from the previous point;
* the first move of a control in a take *latches* it: the lane's later points (an earlier
  take) are set aside, so what plays after the move is the move's value, as on screen;
  they come back after the take when recording stops (from the stop time on);
* ``blackout`` writes 0 on the ``brightness`` lane and, when it ends, the brightness set
  before or during it; ``freeze`` writes steps on the ``freeze`` lane.

Not recording, a value control sets its lane to one value for the whole track (like the
reactivity sliders) and a toggle acts from now until it is switched off, then leaves the
lane as it was: nothing is left in the show.

Style changes and transitions are arrangement edits in both modes: the segment under the
next beat after now (after any transition still running) is split on that beat and gets
the palette's next / previous / picked style with the chosen transition; on an existing
boundary the segment after it is reassigned. The past is never changed, so the frames
already shown stay what a render of the show draws.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from engine.control.controls import ACTION, TOGGLE, VALUE, ControlError, spec
from engine.errors import SonolumeError
from engine.scene import edit
from engine.scene.automation import Automation, Lane
from engine.scene.scene import (
    CUT,
    DEFAULT_TRANSITION_BEATS,
    MAX_TRANSITION_BEATS,
    Transition,
    _style_key,
)

log = logging.getLogger("sonolume.control")

HOLD_S = 1e-3  # the hold point sits this far before a move: well inside one video frame
MAX_QUEUE = 10_000  # moves waiting for a frame; beyond this the oldest are dropped


@dataclass(frozen=True)
class ControlEvent:
    """One move. ``value``: the number for a value control, on/off (>= 0.5 is on) for a
    toggle, None to flip a toggle; ``arg``: style.pick's position, a transition's beats;
    ``source``: where it came from, for log lines; ``at``: ``time.monotonic()`` when it
    arrived (the OSC or MIDI thread stamps it), None for "when it is applied". Only a tap
    uses it: moves act on the next frame anyway, but a tap *is* a time, and the GUI thread
    may take a frame or a stall to get to it."""

    control: str
    value: float | None = None
    arg: int | None = None
    source: str = ""
    at: float | None = None


class TapTempo:
    """Tempo from tapped beats: the median interval of the last taps; a pause longer than
    ``reset_s`` starts over (a new song)."""

    def __init__(self, keep: int = 8, reset_s: float = 2.0):
        self.keep, self.reset_s = keep, reset_s
        self.taps: deque[float] = deque(maxlen=keep)

    def tap(self, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else float(now)
        if self.taps and (now - self.taps[-1] > self.reset_s or now <= self.taps[-1]):
            self.taps.clear()
        self.taps.append(now)
        if len(self.taps) < 2:
            return None
        return 60.0 / float(np.median(np.diff(np.asarray(self.taps))))


class Controller:
    """Applies :class:`ControlEvent` s to a Scene (see the module docstring).

    ``scene``: a Scene, or a callable returning the current one (the app's
    ``lambda: stage.scene``; None means nothing to control). ``clock``: seconds into the
    track now (the app's ``stage.current_time``). ``palette``: the styles that next /
    previous / pick walk through, a list or a callable; default: the scene's own styles.
    ``apply_arrangement(arrangement, text)``: how an arrangement edit reaches the scene
    (the app routes it through its undo stack); default: applied directly. ``on_tap``:
    called with the tapped tempo in BPM (from the second tap on). ``on_tap_at``: called
    with every tap's arrival time (``time.monotonic()`` seconds: the move's ``at``, or the
    time it is applied when it carries none), so a beat tracker can place the tap where
    the performer hit it rather than where the GUI thread got to it."""

    def __init__(self, scene=None, clock: Callable[[], float] | None = None, *,
                 palette=None, apply_arrangement: Callable | None = None,
                 on_tap: Callable[[float], None] | None = None,
                 on_tap_at: Callable[[float], None] | None = None):
        self._scene = scene
        self.clock = clock or (lambda: 0.0)
        self.palette = palette
        self.apply_arrangement = apply_arrangement
        self.on_tap = on_tap
        self.on_tap_at = on_tap_at
        self.transition = CUT  # what style.next / previous / pick use
        self.tempo = TapTempo()
        self.tapped_bpm: float | None = None
        self.values: dict[str, float] = {}  # the last value of each control, for displays
        self.frozen = False
        self.blackout = False
        self._recording = False
        self._queue: deque[ControlEvent] = deque(maxlen=MAX_QUEUE)
        self._lock = threading.Lock()
        self._latched: dict[str, tuple] = {}  # control -> points set aside in this take
        self._stash: dict[str, Lane | None] = {}  # lanes a toggle replaced (not recording)
        self._brightness_after: float | None = None  # brightness to restore after blackout
        self._take_scene = None  # the scene a take was recorded on
        self._seen: tuple = (None, None)  # the scene and lanes the last moves acted on

    # -- the scene ---------------------------------------------------------------------------
    @property
    def scene(self):
        s = self._scene
        return s() if callable(s) else s

    @scene.setter
    def scene(self, value) -> None:
        self._scene = value

    @property
    def recording(self) -> bool:
        return self._recording

    @recording.setter
    def recording(self, on: bool) -> None:
        on = bool(on)
        if on == self._recording:
            return
        if not on:
            self._end_take(self.clock())
        self._recording = on
        self._latched = {}
        self._take_scene = self.scene if on else None
        log.info("recording %s", "on" if on else "off")

    # -- moves -------------------------------------------------------------------------------
    def submit(self, event: ControlEvent) -> None:
        """Queue a move (any thread); :meth:`flush` applies it."""
        with self._lock:
            self._queue.append(event)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def drain(self) -> list[ControlEvent]:
        """Take the queued moves without applying them (a live set looks at them first:
        a style change needs its beats fixed before it is placed)."""
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
        return events

    def flush(self, t: float | None = None) -> set[str]:
        """Apply every queued move at ``t`` (default: the clock), the latest value of each
        value control only. Returns what changed: ``automation`` and/or ``arrangement``."""
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
        return self.apply(events, t) if events else set()

    def perform(self, event: ControlEvent, t: float | None = None) -> set[str]:
        """Apply one move now (on the scene's thread)."""
        return self.apply([event], t)

    def apply(self, events, t: float | None = None) -> set[str]:
        scene = self.scene
        events = list(events)
        if scene is None:
            log.info("no style or show to control: %d move(s) ignored", len(events))
            return set()
        t = float(self.clock() if t is None else t)
        self._follow(scene)
        last = {e.control: i for i, e in enumerate(events)}
        auto0 = auto = scene.automation
        changed: set[str] = set()
        for i, e in enumerate(events):
            try:
                s = spec(e.control)
                if s.kind == VALUE:
                    if last[e.control] == i:  # an older move of the same knob: superseded
                        auto = self._value(auto, s, e, t)
                elif s.kind == TOGGLE:
                    auto = self._toggle(auto, s, e, t)
                elif s.name == "tap":
                    self._tap(e.at)
                else:
                    if auto is not auto0:  # lanes first, so the edit sees them
                        scene.set_automation(auto)
                        auto0 = auto
                        changed.add("automation")
                    if self._action(scene, s, e, t):
                        changed.add("arrangement")
                    # the edit may have replaced the scene (the app starts a show)
                    scene = self.scene
                    auto0 = auto = scene.automation
            except ControlError as exc:
                log.warning("%s%s", exc, f" (from {e.source})" if e.source else "")
            except SonolumeError as exc:
                log.warning("%s: %s", e.control, exc)
        if auto is not auto0:
            scene.set_automation(auto)
            changed.add("automation")
        self._seen = (scene, scene.automation)
        return changed

    def _follow(self, scene) -> None:
        """Another scene with other lanes (a new track, another show): the switches and
        what they set aside belonged to the old one. (A scene rebuilt with the same lanes,
        as when the app turns the library view into a show, keeps them.)"""
        old, lanes = self._seen
        if old is not None and scene is not old and scene.automation is not lanes:
            self.frozen = self.blackout = False
            self._stash.clear()
            self._brightness_after = None

    # -- value and toggle controls -------------------------------------------------------------
    def _clamp(self, s, value, source: str) -> float:
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not np.isfinite(value):
            raise ControlError(f"{s.name} needs a number, not {value!r}")
        v = float(value)
        if not s.low <= v <= s.high:
            c = min(max(v, s.low), s.high)
            log.warning("%s: %g is outside %g..%g, clamped to %g%s", s.name, v, s.low, s.high,
                        c, f" (from {source})" if source else "")
            v = c
        return v

    def _value(self, auto: Automation, s, e: ControlEvent, t: float) -> Automation:
        v = self._clamp(s, e.value, e.source)
        self.values[s.name] = v
        if s.name == "brightness" and self.blackout:  # shown when the blackout ends
            self._brightness_after = v
            if not self._recording:
                self._stash["brightness"] = Lane("brightness", ((0.0, v),))
            return auto
        return self._write(auto, s.name, v, t)

    def _write(self, auto: Automation, control: str, v: float, t: float,
               interpolation: str = "linear") -> Automation:
        lane = auto.lane(control)
        if not self._recording:
            return auto.with_lane(Lane(control, ((0.0, v),), interpolation))
        if lane is None:
            lane = Lane(control, (), interpolation)
        hold = t - HOLD_S
        shown = lane.value_at(hold)  # what was on screen until this move
        if control not in self._latched:
            self._latched[control] = tuple(p for p in lane.points if p[0] > t)
        pts = [p for p in lane.points if p[0] <= t]
        lane = Lane(control, tuple(pts), lane.interpolation)
        if hold > 0 and not any(hold <= p[0] < t for p in pts):
            lane = lane.with_point(hold, shown)
        return auto.with_lane(lane.with_point(t, v))

    def _end_take(self, t: float) -> None:
        """Recording stops: the latched lanes get their set-aside points back from ``t``."""
        scene = self.scene
        if scene is None or not self._latched or scene is not self._take_scene:
            return  # nothing set aside, or another scene (a new track) replaced the take's
        auto = scene.automation
        for control, later in self._latched.items():
            later = [p for p in later if p[0] > t + HOLD_S]
            lane = auto.lane(control)
            if lane is None or not later:
                continue
            lane = lane.with_point(t, lane.value_at(t))
            auto = auto.with_lane(Lane(control, (*lane.points, *later), lane.interpolation))
        if auto is not scene.automation:
            scene.set_automation(auto)

    def _toggle(self, auto: Automation, s, e: ControlEvent, t: float) -> Automation:
        state = self.frozen if s.name == "freeze" else self.blackout
        on = (not state) if e.value is None else self._clamp(s, e.value, e.source) >= 0.5
        if on == state:
            return auto
        self.values[s.name] = 1.0 if on else 0.0
        if s.name == "freeze":
            self.frozen = on
            if self._recording:
                return self._write(auto, "freeze", 1.0 if on else 0.0, t, "step")
            if on:
                self._stash["freeze"] = auto.lane("freeze")
                pts = ((max(t - HOLD_S, 0.0), 0.0), (t, 1.0)) if t > HOLD_S else ((0.0, 1.0),)
                return auto.with_lane(Lane("freeze", pts, "step"))
            return self._restore(auto, "freeze")
        self.blackout = on
        if self._recording:
            if on:
                self._brightness_after = auto.value("brightness", t)
                return self._write(auto, "brightness", 0.0, t)
            after = self._brightness_after
            return self._write(auto, "brightness", 1.0 if after is None else after, t)
        if on:
            # what a take started during the blackout releases it to
            self._brightness_after = auto.value("brightness", t)
            self._stash["brightness"] = auto.lane("brightness")
            return auto.with_lane(Lane("brightness", ((0.0, 0.0),)))
        return self._restore(auto, "brightness")

    def _restore(self, auto: Automation, control: str) -> Automation:
        lane = self._stash.pop(control, None)
        return auto.with_lane(lane) if lane is not None else auto.without(control)

    def _tap(self, at: float | None) -> None:
        at = time.monotonic() if at is None else float(at)
        if self.on_tap_at is not None:
            self.on_tap_at(at)
        bpm = self.tempo.tap(at)
        if bpm is None:
            return
        self.tapped_bpm = bpm
        log.info("tap tempo: %.1f BPM", bpm)
        if self.on_tap is not None:
            self.on_tap(bpm)

    # -- style changes -----------------------------------------------------------------------
    def styles(self, scene) -> list:
        """The palette: what next / previous / pick walk through."""
        p = self.palette
        p = p() if callable(p) else p
        return list(p) if p else list(scene.styles.values())

    def change_time(self, scene, t: float) -> float | None:
        """The frame time of the first beat after ``t``'s frame and after any transition
        still running then; None when the track has no beat left."""
        g = scene.grid
        fps = g.fps
        now = round(t * fps)
        frames = np.round(np.asarray(g.beats, np.float64) * fps)
        later = frames[frames > now]
        if not later.size:
            return None
        b = float(later[0])
        for w in scene.windows():
            if round(w.start * fps) <= b < round(w.end * fps):
                after = frames[frames >= round(w.end * fps)]
                if not after.size:
                    return None
                b = float(after[0])
        end = scene.duration
        if np.isfinite(end) and b >= round(end * fps):
            return None
        return b / fps

    def _action(self, scene, s, e: ControlEvent, t: float) -> bool:
        palette = self.styles(scene)
        if len(palette) < 2 and s.name != "style.pick":
            raise ControlError(f"{s.name}: there is only one style to show (give the "
                               "controller a palette, or arrange a show)")
        if s.name.startswith("transition."):
            kind = s.name.split(".", 1)[1]
            beats = 0
            if kind != "cut":
                beats = DEFAULT_TRANSITION_BEATS if e.arg is None else int(e.arg)
                if not 1 <= beats <= MAX_TRANSITION_BEATS:
                    log.warning("%s: %d beats is outside 1..%d, clamped", s.name, beats,
                                MAX_TRANSITION_BEATS)
                    beats = min(max(beats, 1), MAX_TRANSITION_BEATS)
            transition, which = Transition(kind, beats), "next"
        else:
            transition, which = self.transition, s.name.split(".", 1)[1]
        b = self.change_time(scene, t)
        if b is None:
            raise ControlError(f"{s.name}: no beat left in the track to change on")
        arr = edit.Arrangement.of(scene)
        fps = scene.grid.fps
        starts = scene.boundaries()
        at = [k for k, x in enumerate(starts) if round(x * fps) == round(b * fps)]
        if at:
            index = at[0]
        else:
            j = max(k for k, x in enumerate(starts) if round(x * fps) < round(b * fps))
            seg = arr.segments[j]
            segments = list(arr.segments)
            segments[j:j + 1] = [replace(seg, end=b), replace(seg, start=b)]
            transitions = list(arr.transitions)
            transitions.insert(j, CUT)
            arr = replace(arr, segments=tuple(segments), transitions=tuple(transitions))
            index = j + 1
        # next / previous step from what would show from b on: pressing twice before the
        # beat steps twice
        before = arr.segments[index].style
        held = {id(v): k for k, v in scene.styles.items()}  # the scene's own names first
        keys = [held.get(id(x), _style_key(x)) for x in palette]
        i = keys.index(before) if before in keys else -1
        if which == "pick":
            n = 1 if e.arg is None else int(e.arg)
            if not 1 <= n <= len(palette):
                log.warning("style.pick: %d is outside 1..%d, clamped", n, len(palette))
                n = min(max(n, 1), len(palette))
            pick = n - 1
        else:
            pick = (i + (-1 if which == "previous" else 1)) % len(palette)
        new, key = palette[pick], keys[pick]
        if key == before:
            log.info("%s: '%s' is already showing", s.name, getattr(new, "name", key))
            return False
        if key in scene.styles:  # a style the show holds: keep its key
            segments = list(arr.segments)
            segments[index] = replace(segments[index], style=key)
            arr = replace(arr, segments=tuple(segments))
        else:
            arr = edit.assign(arr, index, new)
        arr = edit.set_transition(arr, index, transition)
        text = f"{getattr(new, 'name', key)} at {b:.2f} s ({transition.text})"
        log.info("%s: %s", s.name, text)
        if self.apply_arrangement is not None:
            self.apply_arrangement(arr, text)
        else:
            arr.apply(scene)
        return True


__all__ = ["ACTION", "TOGGLE", "VALUE", "ControlEvent", "Controller", "TapTempo"]
