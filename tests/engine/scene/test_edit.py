"""Timeline edits as values: split on downbeats, merge, assign, transitions, undo by
keeping the old arrangement."""

import math

import pytest
from conftest import make_features, make_structure

from engine.scene import Scene, SceneError, Segment, Transition, edit


@pytest.fixture
def scene(cppns):
    f = make_features(16.0)  # 120 BPM, beats from 0.25 s, bars of 2 s
    st = make_structure(f, labels=("A", "B"), bars_per_section=4)
    segs = [Segment("a", 0.0, 8.25), Segment("b", 8.25, math.inf)]
    return Scene({"a": cppns["a"], "b": cppns["b"]}, segs, features=f, structure=st)


def test_split_lands_on_the_nearest_downbeat_and_undo_restores(scene):
    before = edit.Arrangement.of(scene)
    after = edit.split(before, scene.grid, 3.1)
    assert [s.start for s in after.segments] == [0.0, 2.25, 8.25]
    assert after.segments[0].style == after.segments[1].style == "a"
    assert after.transitions[0].kind == "cut" and len(after.transitions) == 2
    after.apply(scene)
    assert scene.segment_index(2.3) == 1
    assert scene.style_at(2.3) == scene.segments[1].style
    before.apply(scene)  # undo
    assert len(scene.segments) == 2 and scene.segments[1].start == 8.25


def test_merge_assign_and_transition(scene, cppns):
    arr = edit.Arrangement.of(scene)
    arr = edit.set_transition(arr, 1, Transition("crossfade", 2))
    arr = edit.assign(arr, 1, cppns["c"])
    assert arr.segments[1].style != "b" and arr.transitions[0].text == "crossfade:2"
    arr.apply(scene)
    assert set(scene.styles) == {"a", arr.segments[1].style}  # 'b' no longer used
    frame = scene.frame_at(8.5)  # inside the 2-beat crossfade
    assert frame.mode == "crossfade" and 0 < frame.mix < 1
    merged = edit.merge(arr, 0)
    assert len(merged.segments) == 1 and merged.transitions == ()


def test_bad_edits_say_what_is_wrong(scene):
    arr = edit.Arrangement.of(scene)
    with pytest.raises(SceneError, match="nothing after it"):
        edit.merge(arr, 1)
    with pytest.raises(SceneError, match="no boundary 2"):
        edit.set_transition(arr, 2, Transition("crossfade", 2))
    tiny = edit.split(edit.split(arr, scene.grid, 1.9), scene.grid, 0.5)
    with pytest.raises(SceneError, match="too short"):
        edit.split(tiny, scene.grid, 0.3)


def test_move_boundary_snaps_to_a_downbeat(scene):
    arr = edit.move_boundary(edit.Arrangement.of(scene), scene.grid, 1, 5.9)
    assert arr.segments[1].start == pytest.approx(6.25)
    assert arr.segments[0].end == arr.segments[1].start
