"""Automation lanes: a control's value over time, as sorted (time, value) points.

The scene reads every user-adjustable quantity through a lane when one exists, so the
same data can come from a saved show, an editor's drawn curve or, later, live MIDI/OSC
control writing points as they arrive (:meth:`Lane.with_point` keeps the order and
replaces a point at the same time, which is what a knob turned during playback needs).

Controls (:data:`CONTROLS`): ``amount.<target>`` and ``amount.all`` multiply the
reactivity amounts (1 = as set), ``hue`` adds turns of the colour wheel, ``brightness`` and
``zoom`` multiply; ``freeze`` (on at 1) holds the reactivity at the time it turned on. A
lane holds the value between points: ``linear`` interpolates,
``step`` keeps each point's value until the next; before the first point the first
value holds, after the last the last.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from engine.errors import SonolumeError

INTERPOLATIONS = ("linear", "step")
MAX_POINTS = 100_000  # per lane: an hour of a knob sampled at 25 Hz


@dataclass(frozen=True)
class Control:
    name: str
    neutral: float  # the value that changes nothing
    low: float
    high: float
    description: str


def _controls() -> dict[str, Control]:
    from engine.reactive.preset import TARGETS

    out = {f"amount.{t}": Control(f"amount.{t}", 1.0, 0.0, 4.0,
                                  f"multiplies the '{t}' reactivity amount")
           for t in TARGETS}
    out["amount.all"] = Control("amount.all", 1.0, 0.0, 4.0,
                                "multiplies every reactivity amount")
    out["hue"] = Control("hue", 0.0, -10.0, 10.0, "turns of the colour wheel added")
    out["brightness"] = Control("brightness", 1.0, 0.0, 3.0, "multiplies the brightness")
    out["zoom"] = Control("zoom", 1.0, 0.25, 4.0, "multiplies the zoom (> 1 magnifies)")
    out["freeze"] = Control("freeze", 0.0, 0.0, 1.0, "1 holds the motion where it was when "
                            "the lane turned on (read as steps)")
    return out


CONTROLS: dict[str, Control] = _controls()


class AutomationError(SonolumeError):
    """A lane or point that cannot be used (unknown control, NaN, out of range)."""


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise AutomationError(f"{what} must be a number, not {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise AutomationError(f"{what} must be a finite number, not {v}")
    return v


@dataclass(frozen=True)
class Lane:
    """One control's points, sorted by time, at most one per time."""

    control: str
    points: tuple[tuple[float, float], ...] = ()
    interpolation: str = "linear"
    _times: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self):
        c = CONTROLS.get(self.control)
        if c is None:
            raise AutomationError(f"unknown control '{self.control}' "
                                  f"(use: {', '.join(CONTROLS)})")
        if self.interpolation not in INTERPOLATIONS:
            raise AutomationError(f"lane '{self.control}': interpolation must be one of "
                                  f"{', '.join(INTERPOLATIONS)}, not {self.interpolation!r}")
        if len(self.points) > MAX_POINTS:
            raise AutomationError(f"lane '{self.control}' has {len(self.points)} points "
                                  f"(at most {MAX_POINTS})")
        clean: dict[float, float] = {}
        for i, p in enumerate(self.points):
            if not isinstance(p, (tuple, list)) or len(p) != 2:
                raise AutomationError(f"lane '{self.control}': point {i} must be [time, value]")
            t = _number(p[0], f"lane '{self.control}': time of point {i}")
            v = _number(p[1], f"lane '{self.control}': value of point {i}")
            if t < 0:
                raise AutomationError(f"lane '{self.control}': point {i} is at {t} s "
                                      "(times start at 0)")
            if not c.low <= v <= c.high:
                raise AutomationError(f"lane '{self.control}': value {v} of point {i} is "
                                      f"outside {c.low:g} to {c.high:g}")
            clean[t] = v  # the later of two points at one time wins
        pts = tuple(sorted(clean.items()))
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "_times", tuple(t for t, _ in pts))

    def value_at(self, t: float) -> float:
        """The lane's value at ``t`` seconds (the control's neutral value when empty)."""
        pts = self.points
        if not pts:
            return CONTROLS[self.control].neutral
        i = bisect.bisect_right(self._times, t)
        if i == 0:
            return pts[0][1]
        if i == len(pts) or self.interpolation == "step":
            return pts[i - 1][1]
        (t0, v0), (t1, v1) = pts[i - 1], pts[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    def held_since(self, t: float) -> float:
        """For an on/off lane (``freeze``), read as steps: when it is on at ``t``, the time
        its current run of "on" points began (0 when it is on from the start); else ``t``.
        A freeze turned on at 12 s therefore shows the 12 s picture until it turns off."""
        i = bisect.bisect_right(self._times, t) - 1
        pts = self.points
        if not pts or pts[max(i, 0)][1] < 0.5:
            return t
        if i < 0:
            return 0.0
        while i > 0 and pts[i - 1][1] >= 0.5:
            i -= 1
        return 0.0 if i == 0 else pts[i][0]

    def values_at(self, times):
        """The lane sampled at many times at once (a numpy array)."""
        import numpy as np

        times = np.asarray(times, np.float64)
        if not self.points:
            return np.full(times.shape, CONTROLS[self.control].neutral)
        ts = np.array(self._times)
        vs = np.array([v for _, v in self.points])
        if self.interpolation == "linear":
            return np.interp(times, ts, vs)
        idx = np.clip(np.searchsorted(ts, times, side="right") - 1, 0, len(vs) - 1)
        return vs[idx]

    def with_point(self, t: float, value: float) -> Lane:
        """A copy with a point added (or the one at ``t`` replaced)."""
        return Lane(self.control, (*self.points, (t, value)), self.interpolation)

    def without_points(self, start: float, end: float) -> Lane:
        """A copy without the points in ``[start, end)`` (an editor's erase)."""
        return Lane(self.control, tuple(p for p in self.points if not start <= p[0] < end),
                    self.interpolation)

    def to_json(self) -> dict:
        return {"interpolation": self.interpolation,
                "points": [[t, v] for t, v in self.points]}

    @classmethod
    def from_json(cls, control: str, data) -> Lane:
        if not isinstance(data, dict):
            raise AutomationError(f"lane '{control}' must be an object with 'points'")
        unknown = set(data) - {"interpolation", "points"}
        if unknown:
            raise AutomationError(f"lane '{control}' has unknown keys: "
                                  f"{', '.join(sorted(unknown))}")
        points = data.get("points", [])
        if not isinstance(points, list):
            raise AutomationError(f"lane '{control}': 'points' must be a list of [time, value]")
        return cls(control, tuple(tuple(p) if isinstance(p, list) else p for p in points),
                   data.get("interpolation", "linear"))


class Automation:
    """All lanes of a scene, by control name. Immutable: edits return a new object, so a
    frame being drawn never sees a half-applied edit."""

    def __init__(self, lanes=()):
        self._lanes: dict[str, Lane] = {}
        for lane in lanes:
            if not isinstance(lane, Lane):
                raise AutomationError(f"not an automation lane: {lane!r}")
            self._lanes[lane.control] = lane

    def __contains__(self, control: str) -> bool:
        return control in self._lanes

    def __iter__(self):
        return iter(self._lanes.values())

    def __len__(self) -> int:
        return len(self._lanes)

    def __eq__(self, other) -> bool:
        return isinstance(other, Automation) and self._lanes == other._lanes

    def lane(self, control: str) -> Lane | None:
        return self._lanes.get(control)

    def value(self, control: str, t: float) -> float:
        """The control at ``t``: its lane's value, or the neutral value without a lane."""
        lane = self._lanes.get(control)
        if lane is None:
            c = CONTROLS.get(control)
            if c is None:
                raise AutomationError(f"unknown control '{control}'")
            return c.neutral
        return lane.value_at(t)

    def with_lane(self, lane: Lane) -> Automation:
        return Automation([*(v for k, v in self._lanes.items() if k != lane.control), lane])

    def without(self, control: str) -> Automation:
        return Automation(v for k, v in self._lanes.items() if k != control)

    def amount_lanes(self) -> dict[str, Lane]:
        """``{target or 'all': lane}`` for the ``amount.*`` controls."""
        return {k.split(".", 1)[1]: v for k, v in self._lanes.items()
                if k.startswith("amount.")}

    def to_json(self) -> dict:
        return {k: v.to_json() for k, v in sorted(self._lanes.items())}

    @classmethod
    def from_json(cls, data) -> Automation:
        if not isinstance(data, dict):
            raise AutomationError("'automation' must be an object of lanes by control name")
        return cls(Lane.from_json(k, v) for k, v in data.items())
