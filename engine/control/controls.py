"""Every performable control, by name: what it does, its range, and how it is recorded.

Three kinds, because a knob, a switch and a button record differently:

* ``value`` -- a number held until the next move: the reactivity amounts
  (``amount.<target>``, ``amount.all``) and the ``hue`` / ``brightness`` / ``zoom`` offsets.
  Each writes points on the Scene's automation lane of the same name.
* ``toggle`` -- on or off: ``freeze`` (its own step lane; the motion holds where it was when
  it turned on) and ``blackout`` (written on the ``brightness`` lane as 0, and back to the
  brightness it had when it turns off).
* ``action`` -- a moment: ``style.next``, ``style.previous``, ``style.pick`` (argument: the
  palette position, from 1), ``transition.<kind>`` (argument: beats) and ``tap``. The
  style and transition actions edit the show's arrangement at the next beat; ``tap`` only
  measures a tempo (for a live beat tracker) and changes nothing in a show.

``knob`` is the range a MIDI knob (0..127) sweeps; ``low``/``high`` is what a value may be
at all (out-of-range values are clamped, with a log line). The ranges of the ``value``
controls are those of :data:`engine.scene.automation.CONTROLS`, so whatever a controller
writes a show file can hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import SonolumeError
from engine.scene.automation import CONTROLS as LANES
from engine.scene.scene import TRANSITIONS

VALUE, TOGGLE, ACTION = "value", "toggle", "action"


class ControlError(SonolumeError):
    """An unknown control, or a mapping file that cannot be used."""


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # value | toggle | action
    low: float
    high: float
    knob: tuple[float, float]  # what a MIDI knob's 0..127 covers
    recorded: str  # how a recording keeps it, in words (the README's table)
    description: str
    takes_arg: bool = False  # style.pick N, transition.<kind> BEATS


_KNOBS = {"hue": (0.0, 1.0), "brightness": (0.0, 2.0), "zoom": (0.5, 2.0)}


def _specs() -> dict[str, Spec]:
    out: dict[str, Spec] = {}
    for name, c in LANES.items():
        if name == "freeze":
            continue
        knob = _KNOBS.get(name, (0.0, 2.0))
        out[name] = Spec(name, VALUE, c.low, c.high, knob, f"points on the '{name}' lane",
                         c.description)
    out["freeze"] = Spec("freeze", TOGGLE, 0.0, 1.0, (0.0, 1.0),
                         "steps on the 'freeze' lane", "holds the motion while on")
    out["blackout"] = Spec("blackout", TOGGLE, 0.0, 1.0, (0.0, 1.0),
                           "the 'brightness' lane at 0 while on",
                           "a black picture while on")
    out["style.next"] = Spec("style.next", ACTION, 0, 0, (0, 0),
                             "a new segment from the next beat",
                             "the palette's next style from the next beat")
    out["style.previous"] = Spec("style.previous", ACTION, 0, 0, (0, 0),
                                 "a new segment from the next beat",
                                 "the palette's previous style from the next beat")
    out["style.pick"] = Spec("style.pick", ACTION, 1, 128, (1, 128),
                             "a new segment from the next beat",
                             "style N of the palette (from 1) from the next beat",
                             takes_arg=True)
    for kind in TRANSITIONS:
        out[f"transition.{kind}"] = Spec(
            f"transition.{kind}", ACTION, 0 if kind == "cut" else 1, 64, (1, 8),
            "a new segment from the next beat, with this transition",
            f"the next style from the next beat by a {kind}"
            + ("" if kind == "cut" else " over N beats (default 2)"),
            takes_arg=kind != "cut")
    out["tap"] = Spec("tap", ACTION, 0, 0, (0, 0), "not recorded (a tempo for live input)",
                      "tap tempo: the interval of the last taps")
    return out


SPECS: dict[str, Spec] = _specs()


def spec(name: str) -> Spec:
    s = SPECS.get(name)
    if s is None:
        raise ControlError(f"unknown control '{name}' (use: {', '.join(SPECS)})")
    return s
