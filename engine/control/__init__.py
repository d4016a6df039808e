"""Live control: every performable control by name, applied to a Scene "now", from OSC,
MIDI or a script, and recorded as the show's own automation and arrangement.

    from engine.control import Controller, ControlEvent, OscServer
    ctl = Controller(scene, clock=lambda: player_time)
    server = OscServer(ctl.submit, port=9000).start()   # /sonolume/amount/pulse 0.7 ...
    ...                                                  # once per video frame:
    ctl.flush()                                          # queued moves act on the scene

:mod:`engine.control.controls` lists the controls and how each is recorded,
:mod:`engine.control.live_set` plays and records a set on live audio input,
:mod:`engine.control.controller` applies them, :mod:`engine.control.osc` and
:mod:`engine.control.midi` receive them, :mod:`engine.control.stream_clock` puts a tap's
arrival on the audio stream's clock.
"""

from engine.control.controller import ControlEvent, Controller, TapTempo
from engine.control.controls import ACTION, SPECS, TOGGLE, VALUE, ControlError, Spec, spec
from engine.control.live_set import LiveSet, LiveSetError
from engine.control.midi import Binding, MidiInput, MidiMap, MidiRouter
from engine.control.osc import DEFAULT_HOST, DEFAULT_PORT, OscServer, event_for
from engine.control.stream_clock import StreamClock

__all__ = [
    "ACTION", "DEFAULT_HOST", "DEFAULT_PORT", "SPECS", "TOGGLE", "VALUE", "Binding",
    "ControlError", "ControlEvent", "Controller", "LiveSet", "LiveSetError", "MidiInput",
    "MidiMap", "MidiRouter", "OscServer", "Spec", "StreamClock", "TapTempo", "event_for",
    "spec",
]
