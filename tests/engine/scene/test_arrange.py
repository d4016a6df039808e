import numpy as np
import pytest
from conftest import FPS, make_features, make_structure

from engine.errors import SonolumeError
from engine.scene import BeatGrid, Transition
from engine.scene.arrange import (
    ChangeRule,
    arrange,
    arrange_by_labels,
    auto_styles,
    change_times,
    hard_cut_times,
)


def grid_for(seconds=40.0, labels=("A", "B", "A", "C", "B"), bars_per_section=2, **kw):
    feats = make_features(seconds, **kw)
    return feats, BeatGrid.build(feats, make_structure(feats, labels, bars_per_section))


def test_repeated_sections_get_the_same_style():
    feats, grid = grid_for()
    segs, trans = arrange(["x", "y", "z"], ChangeRule("sections"), grid,
                          Transition("crossfade", 2))
    labels = [grid.sections[i].label for i in range(len(grid.sections))]
    assert labels == ["A", "B", "A", "C", "B"]
    by_label: dict = {}
    for seg in segs:
        label = next(s.label for s in grid.sections if abs(s.start - seg.start) < 1e-6)
        by_label.setdefault(label, set()).add(seg.style)
    assert by_label == {"A": {"x"}, "B": {"y"}, "C": {"z"}}
    assert all(t == Transition("crossfade", 2) for t in trans)
    assert [round(s.start * FPS) for s in segs[1:]] == \
        [round(s.start * FPS) for s in grid.sections[1:]]


def test_bars_rule_changes_every_n_bars_on_downbeats():
    feats, grid = grid_for(labels=())
    times = [t for t, _ in change_times(ChangeRule("bars", bars=3), grid)]
    assert times == [float(d) for d in grid.downbeats[3::3]]
    segs, _ = arrange(["x", "y"], ChangeRule("bars", bars=3), grid)
    assert [s.style for s in segs[:4]] == ["x", "y", "x", "y"]
    assert segs[-1].end == grid.duration and segs[0].start == 0.0


def test_min_and_max_length_and_user_times():
    feats, grid = grid_for(labels=())
    # every bar is 2 s; a 5 s minimum keeps every third bar
    times = [t for t, _ in change_times(ChangeRule("bars", bars=1, min_seconds=5.0), grid)]
    assert all(b - a >= 5.0 for a, b in zip([0.0] + times, times))
    assert grid.duration - times[-1] >= 5.0
    # one segment of 40 s split by a 9 s maximum, on downbeats
    times = [t for t, _ in change_times(ChangeRule("times", times=(30.0,),
                                                   max_seconds=9.0), grid)]
    bounds = [0.0] + times + [grid.duration]
    assert all(b - a <= 9.0 + 1e-9 for a, b in zip(bounds, bounds[1:]))
    downs = set(np.round(grid.downbeats, 6))
    user = grid.nearest_beat(30.0)
    assert user in times
    assert all(round(t, 6) in downs for t in times if t != user)
    # user times move to the nearest beat
    times = [t for t, _ in change_times(ChangeRule.parse("times:10.1,20.4"), grid)]
    assert times == [grid.nearest_beat(10.1), grid.nearest_beat(20.4)]
    assert all(round(t * FPS) in {round(b * FPS) for b in grid.beats} for t in times)


def test_hard_cuts_on_loudness_jumps_keep_their_gap():
    loud = np.full(600, 0.1)
    for start in (150, 250, 420):  # jumps at 15 s, 25 s, 42 s
        loud[start:] = 0.9 if start != 250 else loud[start:]
        loud[start + 40:] = 0.1
    loud[250:290] = 0.9
    feats = make_features(60.0, loud=loud)
    grid = BeatGrid.build(feats, make_structure(feats))
    cuts = hard_cut_times(feats, grid, sensitivity=2.0, min_gap=20.0)
    assert cuts == [grid.nearest_beat(15.0), grid.nearest_beat(42.0)]  # 25 s is too soon
    assert hard_cut_times(feats, grid, sensitivity=2.0, min_gap=5.0)[1] == \
        grid.nearest_beat(25.0)
    segs, trans = arrange(["x", "y"], ChangeRule("bars", bars=8, hard_cuts=True,
                                                 cut_min_gap=20.0), grid,
                          Transition("crossfade", 2), feats)
    starts = {round(s.start, 6): t for s, t in zip(segs[1:], trans)}
    assert starts[round(cuts[0], 6)] == Transition("cut")


def test_change_rule_errors():
    for text, words in [("bars:0", "1 to 1024"), ("bars:x", "bad change rule"),
                        ("times:", "bad change rule"), ("sections:3", "takes no value"),
                        ("weekly", "unknown change rule"), ("times:-3", "more than 0")]:
        with pytest.raises(SonolumeError, match=words):
            ChangeRule.parse(text)
    with pytest.raises(SonolumeError, match="twice the minimum"):
        ChangeRule("sections", min_seconds=10, max_seconds=15)


class FakeStyle:
    def __init__(self, name, prompt):
        self.id = name.lower()
        self.name = name
        self.meta = {"prompts": [{"text": prompt, "weight": 1.0}]}


def test_auto_arrange_picks_by_each_sections_music_and_repeats_labels():
    # quiet, loud, quiet, loud: A and B alternate with distinct energy
    loud = np.concatenate([np.full(80, 0.03), np.full(80, 0.95), np.full(80, 0.03),
                           np.full(80, 0.95)])
    feats = make_features(32.0, loud=loud)
    feats.stats = {"loudness_db": -22.0, "onset_rate": 3.0, "key": "", "mode": ""}
    grid = BeatGrid.build(feats, make_structure(feats, ("A", "B", "A", "B"), 2))
    calm = FakeStyle("Calm", "calm serene mist, soft peaceful pastel")
    fire = FakeStyle("Fire", "explosive fiery lightning storm, vivid electric")
    chosen = auto_styles([calm, fire], feats, grid)
    assert chosen == {"A": calm, "B": fire}
    segs, trans = arrange_by_labels({k: v.id for k, v in chosen.items()}, grid,
                                    Transition("morph", 2))
    assert [s.style for s in segs] == ["calm", "fire", "calm", "fire"]
    assert len(trans) == 3
