"""A transition running at a scene's time 0 (a live set recorded mid-crossfade), in the
Scene and in show files; a live steps file's held picture (a take recorded during a
freeze). Old files without either still load and save as they were."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.reactive.live import LiveParams
from engine.scene import Segment, Transition
from engine.scene.edit import Arrangement, assign
from engine.scene.live_steps import LiveSteps, LiveStepsError
from engine.scene.scene import LeadIn, Scene, SceneError, _smoothstep
from engine.scene.show import Show, ShowError, StyleRef, read_show, save_show


def lead_scene(cppns) -> Scene:
    return Scene(cppns, [Segment("b", 0.0, 4.0), Segment("c", 4.0, math.inf)],
                 [Transition("cut")], lead_in=LeadIn("a", Transition("crossfade", 2),
                                                     -0.75, 1.25))


def test_a_lead_in_draws_the_transition_running_at_time_zero(cppns):
    scene = lead_scene(cppns)
    for t in (0.0, 0.4, 1.2):
        f = scene.frame_at(t)
        assert f.mode == "crossfade" and [x.style for x in f.layers] == ["a", "b"]
        assert f.mix == _smoothstep((t + 0.75) / 2.0)
    assert scene.frame_at(1.25).single and scene.frame_at(1.25).style == "b"
    assert scene.frame_at(4.0).style == "c"
    assert scene.windows()[0].index == 0 and "running when the recording began" in \
        "\n".join(scene.describe())
    # an edit keeps the style the lead-in comes from, although no segment shows it
    arr = assign(Arrangement.of(scene), 1, cppns["b"])
    arr.apply(scene)
    assert "a" in scene.styles and scene.frame_at(0.5).mode == "crossfade"
    copied, f = scene.copy().frame_at(0.5), scene.frame_at(0.5)
    assert (copied.mode, copied.mix, [x.style for x in copied.layers]) == \
        (f.mode, f.mix, [x.style for x in f.layers])
    scene.set_style(cppns["c"])  # a library click: one style, no lead-in
    assert scene.lead_in is None and scene.frame_at(0.5).single
    with pytest.raises(SceneError, match="comes from style 'x'"):
        Scene(cppns, lead_in=LeadIn("x", Transition("crossfade", 2), -1.0, 1.0))
    with pytest.raises(SceneError, match="cannot be a cut"):
        LeadIn("a", Transition("cut"), -1.0, 1.0)
    with pytest.raises(SceneError, match="ends"):
        LeadIn("a", Transition("crossfade", 2), 1.0, 1.0)


def show_data(lead=None, version=2) -> dict:
    data = {"format": "sonolume-show", "version": version, "track": {"path": "/x.flac"},
            "styles": [{"id": "a"}, {"id": "b"}],
            "segments": [{"style": "b", "start": 0, "end": 10}],
            "live": {"steps": "x.steps.safetensors", "sha256": ""}}
    if lead is not None:
        data["live"]["lead_in"] = lead
    return data


def test_show_files_carry_the_lead_in_exactly_and_old_ones_still_load(tmp_path):
    start, end = -0.7012698412698413, 1.2987301587301587  # floats a live set gave
    show = Show(track=tmp_path / "x.flac", track_sha256="", track_duration=10.0,
                styles={k: StyleRef(k) for k in "ab"}, segments=[Segment("b", 0.0, 10.0)],
                transitions=[], live_steps=tmp_path / "x.steps.safetensors",
                lead_in=LeadIn("a", Transition("morph", 4), start, end))
    path = save_show(show, tmp_path / "set.json")
    data = json.loads(path.read_text())
    assert data["version"] == 3
    assert data["live"]["lead_in"] == {"from": "a", "kind": "morph", "beats": 4,
                                       "start": start, "end": end}
    again = read_show(path)
    assert again.lead_in == show.lead_in  # to the bit: the render draws the live mix

    # a version 2 set (no lead-in) reads and writes as version 2
    p = tmp_path / "v2.json"
    p.write_text(json.dumps(show_data()))
    v2 = read_show(p)
    assert v2.lead_in is None and v2.to_json()["version"] == 2

    bad = [({"from": "z", "kind": "crossfade", "beats": 2, "start": -1, "end": 1},
            "from style 'z', which 'styles' does not list"),
           ({"from": "a", "kind": "crossfade", "beats": 2, "start": 1, "end": 1},
            "ends \\(1 s\\) before it starts"),
           ({"from": "a", "kind": "cut", "start": -1, "end": 1}, "cannot be a cut"),
           ({"from": "a", "kind": "fade", "beats": 2, "start": -1, "end": 1},
            "unknown transition 'fade'"),
           ({"from": "a", "kind": "crossfade", "start": "x", "end": 1},
            "live.lead_in.start must be a number"),
           ({"from": "a", "kind": "crossfade", "start": -1, "end": 1, "x": 0},
            "live.lead_in: unknown keys: x")]
    for lead, words in bad:
        p.write_text(json.dumps(show_data(lead, version=3)))
        with pytest.raises(ShowError, match=f"^v2.json: .*{words}"):
            read_show(p)


def features_step(rng):
    from types import SimpleNamespace

    from engine.scene.live_steps import FEATURES

    return SimpleNamespace(chroma=rng.random(12).astype(np.float32),
                           **{k: float(rng.random()) for k in FEATURES})


def test_a_steps_file_keeps_the_held_picture_and_old_files_still_load(tmp_path):
    from safetensors import safe_open

    rng = np.random.default_rng(4)
    lp = LiveParams("punchy", seed=2)
    for _ in range(20):
        lp.step(features_step(rng), dt=1 / 43)
    held = lp.state()
    want = lp.params(8)
    for _ in range(5):
        lp.step(features_step(rng), dt=1 / 43)
    steps = LiveSteps(30.0, lp.state(), -0.01, hold=held, hold_time=0.0)
    steps.append(0.01, 1 / 43, features_step(rng))
    path = steps.save(tmp_path / "held.steps.safetensors")
    with safe_open(str(path), framework="numpy") as fh:
        assert fh.metadata()["version"] == "2"
    loaded = LiveSteps.load(path)
    got = loaded.held_params(lp.preset, 2, 8)
    assert np.array_equal(got.extras, want.extras) and got.zoom == want.zoom
    assert got.hue == want.hue and loaded.hold_time == 0.0

    plain = LiveSteps(30.0, lp.state(), -0.01)  # no hold: version 1, as before
    plain.save(tmp_path / "plain.steps.safetensors")
    with safe_open(str(tmp_path / "plain.steps.safetensors"), framework="numpy") as fh:
        assert fh.metadata()["version"] == "1"
    assert LiveSteps.load(tmp_path / "plain.steps.safetensors").hold is None
    with pytest.raises(LiveStepsError, match="hold no frozen picture"):
        plain.held_params(lp.preset, 2, 8)

    from safetensors.numpy import save_file

    save_file({"time": np.zeros(0), "dt": np.zeros(0), "chroma": np.zeros((0, 12), np.float32),
               "beats": np.zeros(0), "hold.frame": np.array([1.0]),
               **{f"feature.{k}": np.zeros(0) for k in
                  ("rms", "onset", "beat_phase", "beat_pulse", "harmonic", "percussive", "bass",
                   "mid", "treble", "centroid", "tempo", "beat_confidence")}},
              str(tmp_path / "broken.safetensors"),
              metadata={"format": "sonolume-live-steps", "version": "2", "fps": "30"})
    with pytest.raises(LiveStepsError, match="broken.safetensors: hold: live state lacks"):
        LiveSteps.load(tmp_path / "broken.safetensors")
