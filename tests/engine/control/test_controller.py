import logging
import math

import numpy as np
import pytest
from control_helpers import FPS, one_style_scene, same_frame

from engine.control import ControlError, ControlEvent, Controller, TapTempo, spec
from engine.control.controller import HOLD_S
from engine.scene import Automation, Lane, Transition


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def perform(script, scene, palette, seconds=6.0, record=True):
    """Play the scene frame by frame at 30 fps; ``script`` maps a frame index to the moves
    made just before it. Returns the controller and the frames the 'preview' drew."""
    clock = Clock()
    ctl = Controller(scene, clock, palette=palette)
    ctl.recording = record
    shown = []
    for k in range(int(seconds * FPS)):
        clock.t = k / FPS
        for e in script.get(k, ()):
            ctl.submit(e)
        ctl.flush()
        shown.append(scene.frame_at(clock.t))
    return ctl, shown


def test_a_recorded_performance_replays_frame_for_frame():
    """Every frame drawn live equals the frame the finished recording gives at that time:
    knob moves, a blackout, a freeze, style changes and a crossfade, none rewriting the
    past."""
    scene, palette = one_style_scene()
    script = {
        10: [ControlEvent("hue", 0.2)],
        14: [ControlEvent("amount.pulse", 0.3), ControlEvent("zoom", 1.5)],
        20: [ControlEvent("style.next")],
        33: [ControlEvent("blackout", 1.0)],
        40: [ControlEvent("brightness", 1.7)],  # during the blackout: shown after it
        47: [ControlEvent("blackout", 0.0)],
        55: [ControlEvent("freeze")],
        70: [ControlEvent("freeze"), ControlEvent("amount.all", 2.0)],
        80: [ControlEvent("transition.crossfade", arg=2)],
        95: [ControlEvent("hue", 0.6), ControlEvent("hue", 0.7)],
        120: [ControlEvent("style.pick", arg=1)],
    }
    ctl, shown = perform(script, scene, palette)
    assert len(scene.segments) == 4
    assert [s.style for s in scene.segments] == ["a", "b", "c", "a"]
    assert scene.transitions[1] == Transition("crossfade", 2)
    for k, frame in enumerate(shown):
        assert same_frame(frame, scene.frame_at(k / FPS)), f"frame {k} changed afterwards"
    # what the moves did
    assert scene.frame_at(40 / FPS).params.brightness == 0.0
    assert scene.frame_at(50 / FPS).params.brightness > 0.0
    assert scene.automation.value("brightness", 50 / FPS) == pytest.approx(1.7)
    assert scene.automation.value("hue", 100 / FPS) == pytest.approx(0.7)  # last one wins
    frozen = [scene.frame_at(k / FPS).params for k in (55, 60, 69)]
    assert np.array_equal(frozen[0].extras, frozen[2].extras)
    assert not np.array_equal(scene.frame_at(75 / FPS).params.extras, frozen[0].extras)
    # style changes land on beats after the move, on the frame grid
    beats = scene.grid.beats
    for b in scene.boundaries()[1:]:
        assert np.min(np.abs(beats - b)) < 1e-9
    assert scene.boundaries()[1] > 20 / FPS


def test_recording_steps_instead_of_ramping_and_gives_back_a_latched_take():
    scene, palette = one_style_scene()
    scene.set_automation(Automation([Lane("hue", ((0.0, 0.0), (8.0, 0.8)))]))
    clock = Clock()
    ctl = Controller(scene, clock, palette=palette)
    ctl.recording = True
    before = [scene.automation.value("hue", x) for x in (1.5, 2.0 - HOLD_S)]
    ctl.perform(ControlEvent("hue", 0.5), t=2.0)
    lane = scene.automation.lane("hue")
    assert [lane.value_at(x) for x in (1.5, 2.0 - HOLD_S)] == pytest.approx(before)
    assert lane.value_at(2.0) == 0.5 and lane.value_at(6.0) == 0.5  # latched
    ctl.perform(ControlEvent("hue", 0.25), t=3.0)
    assert scene.automation.value("hue", 3.0 - HOLD_S) == 0.5
    assert scene.automation.value("hue", 1.0) == pytest.approx(0.1)  # the old ramp
    clock.t = 4.0
    ctl.recording = False  # the earlier take's points after 4 s come back
    a = scene.automation
    assert a.value("hue", 4.0) == pytest.approx(0.25)
    assert a.value("hue", 8.0) == pytest.approx(0.8)
    assert a.value("hue", 1.0) == pytest.approx(0.1)  # untouched before the take


def test_not_recording_sets_whole_lanes_and_toggles_leave_nothing():
    scene, palette = one_style_scene()
    bright = Lane("brightness", ((0.0, 1.0), (4.0, 2.0)))
    scene.set_automation(Automation([bright]))
    clock = Clock()
    ctl = Controller(scene, clock, palette=palette)
    clock.t = 3.0
    ctl.perform(ControlEvent("hue", 0.3))
    assert scene.automation.lane("hue").points == ((0.0, 0.3),)
    ctl.perform(ControlEvent("blackout", 1.0))
    assert scene.frame_at(1.0).params.brightness == 0.0
    ctl.perform(ControlEvent("blackout"))  # no value: switch
    assert scene.automation.lane("brightness") == bright
    ctl.perform(ControlEvent("freeze", 1.0))
    assert np.array_equal(scene.frame_at(5.0).params.extras, scene.frame_at(3.0).params.extras)
    assert not np.array_equal(scene.frame_at(2.0).params.extras,
                              scene.frame_at(3.0).params.extras)
    ctl.perform(ControlEvent("freeze", 0.0))
    assert "freeze" not in scene.automation


def test_style_actions_split_on_the_next_beat():
    scene, palette = one_style_scene()
    ctl = Controller(scene, lambda: 1.3, palette=palette)
    assert ctl.perform(ControlEvent("style.next")) == {"arrangement"}
    assert scene.boundaries() == [0.0, pytest.approx(1.7)]  # beats at 0.2 + k/2
    assert [s.style for s in scene.segments] == ["a", "b"]
    ctl.perform(ControlEvent("style.next"))  # again before that beat: the same boundary
    assert [s.style for s in scene.segments] == ["a", "c"]
    ctl.perform(ControlEvent("style.previous"), t=2.0)
    assert [s.style for s in scene.segments] == ["a", "c", "b"]
    assert scene.boundaries()[2] == pytest.approx(2.2)
    ctl.perform(ControlEvent("transition.bloom", arg=4), t=3.0)
    assert scene.transitions[-1] == Transition("bloom", 4)
    assert scene.boundaries()[-1] == pytest.approx(3.2)
    # a change asked inside that bloom waits for its end (4 beats = 2 s later)
    ctl.perform(ControlEvent("style.pick", arg=1), t=3.5)
    assert scene.boundaries()[-1] == pytest.approx(5.2)
    assert scene.segments[-1].style == "a"


def test_bad_moves_are_one_log_line_and_change_nothing(caplog):
    scene, palette = one_style_scene()
    ctl = Controller(scene, lambda: 1.0, palette=palette)
    caplog.set_level(logging.INFO, logger="sonolume.control")
    ctl.perform(ControlEvent("amount.pulse", 99.0, source="osc test"))
    assert scene.automation.value("amount.pulse", 0.0) == 4.0
    assert any("outside 0..4, clamped to 4" in r.getMessage() and "osc test" in r.getMessage()
               for r in caplog.records)
    auto = scene.automation
    for e in (ControlEvent("nope", 1.0), ControlEvent("hue", float("nan")),
              ControlEvent("hue", "red"), ControlEvent("zoom", None)):
        assert ctl.perform(e) == set()
    assert scene.automation == auto
    ctl.perform(ControlEvent("style.pick", arg=9))
    assert scene.segments[-1].style == "c"  # clamped to the last of three
    assert any("outside 1..3" in r.getMessage() for r in caplog.records)
    lone = one_style_scene()[0]
    assert Controller(lone, lambda: 1.0).perform(ControlEvent("style.next")) == set()
    assert len(lone.segments) == 1
    assert Controller(None).perform(ControlEvent("hue", 0.1)) == set()
    late = Controller(scene, lambda: 7.9, palette=palette)
    assert late.perform(ControlEvent("style.next")) == set()  # no beat left


def test_flush_coalesces_a_knob_into_one_rebuild():
    scene, palette = one_style_scene()
    calls = []
    real = scene.set_automation
    scene.set_automation = lambda a: (calls.append(a), real(a))
    ctl = Controller(scene, lambda: 2.0, palette=palette)
    ctl.recording = True
    for i in range(100):
        ctl.submit(ControlEvent("amount.drift", i / 50))
    assert ctl.pending() == 100
    assert ctl.flush() == {"automation"}
    assert len(calls) == 1 and ctl.pending() == 0
    assert scene.automation.value("amount.drift", 2.0) == pytest.approx(99 / 50)
    assert ctl.flush() == set()


def test_tap_tempo():
    tap = TapTempo()
    assert tap.tap(10.0) is None
    for k in range(1, 5):
        bpm = tap.tap(10.0 + 0.5 * k)
    assert bpm == pytest.approx(120.0)
    assert tap.tap(20.0) is None  # a long pause starts over
    heard = []
    ctl = Controller(one_style_scene()[0], on_tap=heard.append)
    ctl.tempo = TapTempo()
    ctl.perform(ControlEvent("tap"))
    ctl.perform(ControlEvent("tap"))
    assert len(heard) == 1 and heard[0] > 0 and ctl.tapped_bpm == heard[0]


def test_the_freeze_lane_holds_from_where_it_turned_on():
    lane = Lane("freeze", ((1.0, 0.0), (2.0, 1.0), (2.5, 1.0), (4.0, 0.0)), "step")
    assert lane.held_since(0.5) == 0.5 and lane.held_since(1.5) == 1.5
    assert lane.held_since(2.0) == 2.0 and lane.held_since(3.9) == 2.0
    assert lane.held_since(4.0) == 4.0
    assert Lane("freeze", ((3.0, 1.0),)).held_since(5.0) == 0.0  # on from the start
    assert Lane("freeze").held_since(5.0) == 5.0
    back = Automation.from_json(Automation([lane]).to_json())
    assert back.lane("freeze") == lane
    scene = one_style_scene()[0]
    scene.set_automation(Automation([lane, Lane("hue", ((0.0, 0.0), (8.0, 0.8)))]))
    p2, p3 = scene.frame_at(2.0).params, scene.frame_at(3.0).params
    assert np.array_equal(p2.extras, p3.extras) and p2.rotation == p3.rotation
    assert p3.hue != p2.hue  # offsets still move while frozen
    with pytest.raises(Exception, match="outside 0 to 1"):
        Lane("freeze", ((0.0, 2.0),))


def test_every_control_is_described():
    assert spec("amount.all").kind == "value" and spec("freeze").kind == "toggle"
    assert spec("transition.crossfade").takes_arg and not spec("transition.cut").takes_arg
    with pytest.raises(ControlError, match="unknown control"):
        spec("warp.speed")
    assert math.isclose(spec("hue").high, 10.0)


def test_an_offset_knob_keeps_the_reactivity_track_an_amount_rebuilds_it():
    """A hue / brightness / zoom / freeze move costs no rebuild of the whole track."""
    scene, palette = one_style_scene()
    ctl = Controller(scene, lambda: 2.0, palette=palette)
    ctl.recording = True
    track = scene.param_track(9)
    for name, value in (("hue", 0.3), ("brightness", 0.5), ("zoom", 1.2), ("blackout", 1.0),
                        ("freeze", 1.0)):
        ctl.perform(ControlEvent(name, value))
        assert scene.param_track(9) is track, name
    ctl.perform(ControlEvent("amount.warp", 0.0))
    again = scene.param_track(9)
    assert again is not track and not np.array_equal(again.warp, track.warp)


def test_switches_start_over_on_another_scene_and_a_take_stays_on_its_own():
    scene, palette = one_style_scene()
    scene.set_automation(Automation([Lane("hue", ((0.0, 0.0), (8.0, 0.8)))]))
    holder = {"scene": scene}
    ctl = Controller(lambda: holder["scene"], lambda: 1.0, palette=palette)
    ctl.perform(ControlEvent("blackout", 1.0))
    assert ctl.blackout
    ctl.recording = True
    ctl.perform(ControlEvent("hue", 0.5))
    other = one_style_scene()[0]  # a new track loaded meanwhile
    own = Automation([Lane("hue", ((0.0, 0.1),))])
    other.set_automation(own)
    holder["scene"] = other
    ctl.recording = False  # the take's set-aside points do not land on the new scene
    assert other.automation == own
    ctl.perform(ControlEvent("blackout"))  # a switch on the new scene: on, not off
    assert ctl.blackout and other.frame_at(1.0).params.brightness == 0.0
