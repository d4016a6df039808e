import math

import numpy as np
import pytest
from conftest import FPS, TINY, make_features, make_structure

from engine.cppn.model import CPPN, CPPNConfig
from engine.render import Renderer, TorchRenderer
from engine.scene import (
    Automation,
    AutomationError,
    Lane,
    Scene,
    SceneDrawer,
    SceneError,
    Segment,
    Transition,
)
from engine.scene.arrange import ChangeRule, arrange
from engine.scene.morph import can_morph, morph_cppn
from engine.scene.timing import BeatGrid

SIZE = (32, 18)


def show_scene(cppns, transition: Transition, seconds=16.0, bars=2, **kw) -> Scene:
    feats = make_features(seconds)
    structure = make_structure(feats)
    grid = BeatGrid.build(feats, structure)
    segs, trans = arrange(list(cppns), ChangeRule("bars", bars=bars), grid, transition)
    return Scene(cppns, segs, trans, features=feats, structure=structure, **kw)


def test_cuts_land_on_downbeat_frames(cppns):
    scene = show_scene(cppns, Transition("cut"))
    assert len(scene.segments) >= 3
    downbeat_frames = {round(d * FPS) for d in scene.grid.downbeats}
    n = round(scene.duration * FPS)
    styles = [scene.frame_at(i / FPS).style for i in range(n)]
    changes = [i for i in range(1, n) if styles[i] != styles[i - 1]]
    assert changes == [round(s.start * FPS) for s in scene.segments[1:]]
    assert all(i in downbeat_frames for i in changes)
    # every second downbeat (bars:2), starting from the third one
    assert changes[0] == round(scene.grid.downbeats[2] * FPS)
    assert all(scene.frame_at(i / FPS).single for i in range(n))


@pytest.mark.parametrize("kind", ["crossfade", "bloom", "zoom", "morph"])
def test_transition_weights_are_monotone_sum_to_one_and_sit_on_beat_frames(cppns, kind,
                                                                          monkeypatch):
    # independent networks would crossfade instead (smoothness: test_morph.py)
    monkeypatch.setattr("engine.scene.morph.SMOOTH_LIMIT", math.inf)
    scene = show_scene(cppns, Transition(kind, 2))
    windows = scene.windows()
    assert len(windows) == len(scene.segments) - 1
    beat_frames = {round(b * FPS) for b in scene.grid.beats}
    for w in windows:
        f0, f1 = round(w.start * FPS), round(w.end * FPS)
        assert abs(w.start * FPS - f0) < 1e-6 and abs(w.end * FPS - f1) < 1e-6
        assert f0 in beat_frames and f1 in beat_frames
        assert f1 - f0 == round(2 * 0.5 * FPS)  # two beats at 120 BPM
        mixes = []
        for i in range(f0 - 2, f1 + 2):
            fr = scene.frame_at(i / FPS)
            if fr.single:
                mixes.append(0.0 if i < f0 + 1 else 1.0)
                continue
            weights = (1.0 - fr.mix, fr.mix)
            assert math.isclose(sum(weights), 1.0) and all(0 <= x <= 1 for x in weights)
            assert fr.mode == kind
            mixes.append(fr.mix)
        assert mixes == sorted(mixes) and mixes[0] == 0.0 and mixes[-1] == 1.0
        # before the window the outgoing style, from its end the incoming one only
        assert scene.frame_at((f0 - 1) / FPS).style == scene.segments[w.index - 1].style
        after = scene.frame_at(f1 / FPS)
        assert after.single and after.style == scene.segments[w.index].style


def test_a_transition_longer_than_its_segment_ends_on_the_last_beat_before_the_next(cppns):
    scene = show_scene(cppns, Transition("crossfade", 64), bars=1)
    for w in scene.windows():
        nxt = scene.boundaries()[w.index + 1] if w.index + 1 < len(scene.segments) else \
            scene.duration
        assert w.end <= nxt + 1e-9 and "shortened" in w.note
        assert round(w.end * FPS) in {round(b * FPS) for b in scene.grid.beats}


def test_morph_between_different_shapes_falls_back_to_crossfade(cppns):
    odd = {"a": cppns["a"], "b": CPPN(CPPNConfig(hidden=24, layers=2), seed=9)}
    assert not can_morph(odd["a"], odd["b"]) and can_morph(cppns["a"], cppns["b"])
    scene = show_scene(odd, Transition("morph", 2))
    assert {w.transition.kind for w in scene.windows()} == {"crossfade"}
    assert all("shape" in w.note for w in scene.windows())


def test_drawing_transitions(cppns):
    scene = show_scene(cppns, Transition("crossfade", 2))
    drawer = SceneDrawer(make=lambda c: TorchRenderer(c))
    w = scene.windows()[0]
    mid = scene.frame_at((w.start + w.end) / 2)
    a, b = mid.layers
    pa = TorchRenderer(a.cppn).render(a.params, *SIZE).astype(float)
    pb = TorchRenderer(b.cppn).render(b.params, *SIZE).astype(float)
    got = drawer.draw(mid, *SIZE).astype(float)
    want = (1 - mid.mix) * pa + mid.mix * pb
    assert np.abs(got - want).max() <= 1.0
    # bloom: the incoming style shows first where the outgoing picture is brightest
    from dataclasses import replace

    early = replace(mid, mode="bloom", mix=0.3)
    bloom = drawer.draw(early, *SIZE).astype(float)
    luma = pa @ np.array([0.299, 0.587, 0.114])
    took = np.abs(bloom - pb).sum(-1) < np.abs(bloom - pa).sum(-1)
    assert took.any() and not took.all()
    assert luma[took].mean() > luma[~took].mean()
    # morph: one network with interpolated weights
    m = replace(mid, mode="morph", mix=0.5)
    direct = TorchRenderer(morph_cppn(a.cppn, b.cppn, 0.5)).render(a.params, *SIZE)
    assert np.array_equal(drawer.draw(m, *SIZE), direct)
    ends = morph_cppn(a.cppn, b.cppn, 1.0)
    assert np.array_equal(TorchRenderer(ends).render(b.params, *SIZE),
                          TorchRenderer(b.cppn).render(b.params, *SIZE))
    drawer.release()


def test_one_renderer_switched_between_styles_draws_the_same(cppns):
    scene = show_scene(cppns, Transition("crossfade", 2))
    w = scene.windows()[0]
    times = [0.0, (w.start + w.end) / 2, w.end, 0.0]
    pooled = SceneDrawer(make=lambda c: TorchRenderer(c))

    class Plain(Renderer):  # a renderer kind the drawer cannot clone
        name = "plain"

        def __init__(self, cppn):
            self.inner = TorchRenderer(cppn)

        def set_cppn(self, cppn):
            self.inner.set_cppn(cppn)

        def render(self, params, width, height):
            return self.inner.render(params, width, height)

    first = scene.cppn(scene.segments[0].style)
    shared = SceneDrawer(Plain(first), first)
    assert shared.make is None
    for t in times:
        fr = scene.frame_at(t)
        assert np.array_equal(pooled.draw(fr, *SIZE), shared.draw(fr, *SIZE))


def test_automation_lanes():
    lane = Lane("hue", ((2.0, 0.5), (0.0, 0.0), (4.0, 0.5)))
    assert lane.points == ((0.0, 0.0), (2.0, 0.5), (4.0, 0.5))
    assert lane.value_at(-1) == 0.0 and lane.value_at(1.0) == 0.25 and lane.value_at(9) == 0.5
    step = Lane("zoom", ((0.0, 1.0), (2.0, 2.0)), "step")
    assert step.value_at(1.99) == 1.0 and step.value_at(2.0) == 2.0
    assert np.allclose(step.values_at([0.5, 2.5]), [1.0, 2.0])
    assert lane.with_point(1.0, 0.1).value_at(1.0) == 0.1  # a live knob writes points
    assert len(lane.without_points(0.0, 3.0).points) == 1
    for bad, words in [(("nope", ()), "unknown control"),
                       (("hue", ((0.0, float("nan")),)), "finite"),
                       (("hue", ((-1.0, 0.0),)), "start at 0"),
                       (("zoom", ((0.0, 100.0),)), "outside"),
                       (("hue", ((0.0, 0.0),), "cubic"), "interpolation")]:
        with pytest.raises(AutomationError, match=words):
            Lane(*bad)


def test_scene_reads_offsets_and_amounts_from_lanes():
    cppn = CPPN(TINY, seed=1)
    feats = make_features(6.0)
    plain = Scene.single(cppn, features=feats, preset="punchy")
    auto = Automation([Lane("hue", ((0.0, 0.0), (6.0, 0.6))),
                       Lane("brightness", ((0.0, 1.0), (6.0, 0.5))),
                       Lane("zoom", ((0.0, 2.0),))])
    lanes = Scene.single(cppn, features=feats, preset="punchy", automation=auto)
    p, q = plain.frame_at(3.0).params, lanes.frame_at(3.0).params
    assert math.isclose(q.hue, p.hue + 0.3) and math.isclose(q.brightness, p.brightness * 0.75)
    assert math.isclose(q.zoom, p.zoom * 2.0)
    assert np.array_equal(p.extras, q.extras)
    # amount lanes: 1 everywhere changes nothing; zoom's amount at 0 leaves zoom at 1
    ones = Automation([Lane("amount.all", ((0.0, 1.0),))])
    same = Scene.single(cppn, features=feats, preset="punchy", automation=ones)
    assert np.allclose(same.frame_at(2.0).params.extras, plain.frame_at(2.0).params.extras)
    off = Automation([Lane("amount.zoom", ((0.0, 1.0), (3.0, 1.0), (3.01, 0.0)))])
    z = Scene.single(cppn, features=feats, preset="punchy", automation=off)
    assert z.frame_at(5.0).params.zoom == 1.0 and plain.frame_at(5.0).params.zoom != 1.0
    assert z.frame_at(1.0).params.zoom == plain.frame_at(1.0).params.zoom


def test_scene_edits_invalidate_what_was_computed(cppns):
    feats = make_features(4.0)
    scene = Scene.single(cppns["a"], features=feats, preset="punchy")
    before = scene.frame_at(1.0).params
    scene.set_amounts({"_all": 0.0})
    quiet = scene.frame_at(1.0).params
    assert quiet.zoom == 1.0 and before.zoom != 1.0
    scene.set_seed(5)
    scene.set_amounts({})
    assert not np.array_equal(scene.frame_at(1.0).params.extras, before.extras)
    scene.set_style(cppns["b"])
    assert scene.frame_at(1.0).cppn is cppns["b"]
    copy = scene.copy(seed=0)
    assert copy.seed == 0 and scene.seed == 5 and copy.cppn("style") is cppns["b"]


def test_bad_scenes_are_refused(cppns):
    a = cppns["a"]
    for segs, trans, words in [
        ([Segment("a", 0, 2), Segment("b", 1, 3)], None, "overlap"),
        ([Segment("a", 0, 2), Segment("b", 2.5, 3)], None, "gap"),
        ([Segment("a", -1, 2)], None, "before the track"),
        ([Segment("a", 1, 2)], None, "must start at 0"),
        ([Segment("a", 0, 2), Segment("x", 2, 3)], None, "does not hold"),
        ([Segment("a", 0, float("nan"))], None, "not a number"),
        ([Segment("a", 0, 2), Segment("b", 2, 3)], [], "need 1 transitions"),
    ]:
        with pytest.raises(SceneError, match=words):
            Scene({"a": a, "b": cppns["b"]}, segs, trans)
    for text, words in [("wobble:2", "unknown transition"), ("crossfade:x", "KIND:BEATS"),
                        ("crossfade:0", "1 to 64")]:
        with pytest.raises(SceneError, match=words):
            Transition.parse(text)
    assert Transition.parse("cut:5") == Transition("cut", 0)
    assert Transition.parse("morph").beats == 2


def test_drawer_keeps_a_bounded_number_of_renderers():
    """The live preview flicks through styles: old renderers are released, the newest kept,
    and a renderer is never reused for a different network."""
    from engine.cppn.model import CPPN
    from engine.render import TorchRenderer
    from engine.scene import Scene, SceneDrawer

    made, released = [], []

    class Counting(TorchRenderer):
        def __init__(self, cppn):
            super().__init__(cppn)
            made.append(self)

        def release(self):
            released.append(self)
            super().release()

    drawer = SceneDrawer(make=Counting, keep=2)
    cppns = [CPPN(seed=i) for i in range(5)]
    pictures = []
    for c in cppns:
        frame = Scene.single(c).frame_at(0.0)
        pictures.append(drawer.draw(frame, 24, 16))
    assert len(made) == 5 and len(released) == 3
    assert released == made[:3]  # least recently used first
    again = drawer.draw(Scene.single(cppns[4]).frame_at(0.0), 24, 16)
    assert len(made) == 5 and (again == pictures[4]).all()  # the cached one, same picture
    assert not (pictures[0] == pictures[4]).all()
    drawer.release()
    assert len(released) == 5


def test_setting_the_same_reactivity_again_keeps_the_cached_tracks(cppns):
    """The app sets the reactivity again whenever live ends; for a recorded set the cached
    track is its replay (0.6 s of the GUI thread for 2.5 minutes), so the same values must
    not drop it, and different ones must."""
    from engine.reactive import load_preset

    scene = show_scene(cppns, Transition("cut"))
    scene.set_reactivity(load_preset("club"), {"pulse": 0.5})
    track = scene.param_track(TINY.extra_inputs)
    scene.set_reactivity(load_preset("club"), {"pulse": 0.5})  # equal, not the same
    assert scene.param_track(TINY.extra_inputs) is track
    scene.set_reactivity(load_preset("club"), {"pulse": 0.7})
    changed = scene.param_track(TINY.extra_inputs)
    assert changed is not track and not np.array_equal(changed.extras, track.extras)
