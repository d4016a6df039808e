import json
import math
import shutil

import numpy as np
import pytest
from conftest import make_features, make_structure

from engine.render import TorchRenderer
from engine.scene import Automation, BeatGrid, Lane, Scene, SceneDrawer, Transition
from engine.scene.arrange import ChangeRule, arrange
from engine.scene.show import (
    MAX_SHOW_BYTES,
    ShowError,
    check_track,
    find_show,
    open_show,
    read_show,
    save_show,
    show_from_scene,
)
from engine.styles.library import Library

BUNDLED = ["seeded-pattern-01-ember-rings", "seeded-pattern-02-deep-ocean-swirl",
           "seeded-pattern-03-violet-nebula"]


@pytest.fixture
def track(tmp_path):
    import soundfile as sf

    sr = 8000
    t = np.arange(int(12 * sr)) / sr
    path = tmp_path / "music" / "song.wav"
    path.parent.mkdir()
    sf.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


@pytest.fixture
def library(library_dir):
    return Library(library_dir)


def make_scene(library, track) -> Scene:
    feats = make_features(12.0)
    structure = make_structure(feats, ("A", "B", "A"), 2)
    grid = BeatGrid.build(feats, structure)
    styles = {s: library.get(s) for s in BUNDLED}
    segs, trans = arrange(list(styles), ChangeRule("sections"), grid,
                          Transition("crossfade", 2))
    auto = Automation([Lane("hue", ((0.0, 0.0), (12.0, 0.4)))])
    return Scene(styles, segs, trans, features=feats, structure=structure, preset="club",
                 amounts={"zoom": 0.5, "_all": 0.9}, seed=4, automation=auto, track=track)


def test_show_round_trip_draws_the_same_frames(library, library_dir, track):
    scene = make_scene(library, track)
    show = show_from_scene(scene, name="Round trip")
    path = save_show(show, grid=scene.grid)  # the library's shows folder
    assert path.parent == library_dir / "shows" and path.name == "round-trip.json"
    assert find_show("round-trip", library_dir) == path
    data = json.loads(path.read_text())
    assert data["format"] == "sonolume-show" and data["version"] == 1
    assert [s["bar"] for s in data["segments"]] == [0, 2, 4]
    assert data["track"]["sha256"] and data["styles"][0]["weights_sha256"]
    again = open_show(read_show(path), library, features=scene.features,
                      structure=scene.structure)
    assert again.segments[:-1] == scene.segments[:-1]
    assert again.transitions == scene.transitions and again.seed == 4
    assert again.amounts == scene.amounts and again.automation == scene.automation
    assert [w.start for w in again.windows()] == [w.start for w in scene.windows()]
    d1 = SceneDrawer(make=lambda c: TorchRenderer(c))
    d2 = SceneDrawer(make=lambda c: TorchRenderer(c))
    for t in (0.0, 4.3, 4.6, 9.0, 11.9):
        assert np.array_equal(d1.draw(scene.frame_at(t), 24, 16),
                              d2.draw(again.frame_at(t), 24, 16))


def write(tmp_path, data, name="s.json") -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


def good(library, track) -> dict:
    return show_from_scene(make_scene(library, track)).to_json()


def edited(library, track_path, changes: dict) -> dict:
    d = good(library, track_path)
    for path, value in changes.items():
        keys = path.split("__")
        obj = d
        for k in keys[:-1]:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        obj[int(keys[-1]) if isinstance(obj, list) else keys[-1]] = value
    return d


@pytest.mark.parametrize("change, words", [
    ({"segments__1__start": "soon"}, r"segments\[1\].start must be a number"),
    ({"segments__0__start": -2.0}, "negative"),
    ({"segments__1__start": 1.0}, "overlap"),
    ({"segments__1__end": 3.0}, "ends at 3 s, not after its start"),
    ({"segments__2__style": 7}, r"segments\[2\].style must be text"),
    ({"transitions__0__kind": "wipe"}, "unknown transition 'wipe'"),
    ({"transitions__0__beats": 2.5}, "whole number"),
    ({"seed": "x"}, "'seed' must be a whole number"),
    ({"amounts": {"wobble": 1}}, "unknown target 'wobble'"),
    ({"automation": {"hue": {"points": [[0, "a"]]}}}, "must be a number"),
    ({"styles": []}, "non-empty list"),
    ({"format": "something"}, "not a show file"),
    ({"version": 99}, "newer Sonolume"),
    ({"track": "song.wav"}, "'track' must be an object"),
])
def test_hostile_show_fields_get_one_clear_line(library, track, tmp_path, change, words):
    path = write(tmp_path, edited(library, track, change))
    with pytest.raises(ShowError, match=words) as err:
        read_show(path)
    assert "\n" not in str(err.value) and str(err.value).startswith("s.json: ")


def test_nan_huge_nested_and_broken_files(library, track, tmp_path):
    text = json.dumps(good(library, track))
    with pytest.raises(ShowError, match="NaN is not a number"):
        read_show(write(tmp_path, text.replace('"start": 0.0', '"start": NaN', 1)))
    with pytest.raises(ShowError, match="Infinity"):
        read_show(write(tmp_path, text.replace('"seed": 4', '"seed": -Infinity')))
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (MAX_SHOW_BYTES + 1))
    with pytest.raises(ShowError, match="too large for a show file"):
        read_show(huge)
    for depth in (40, 100_000):
        with pytest.raises(ShowError, match="nested too deeply"):
            read_show(write(tmp_path, "[" * depth + "]" * depth))
    with pytest.raises(ShowError, match="not valid JSON"):
        read_show(write(tmp_path, "{\"format\": "))
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ShowError, match="not UTF-8"):
        read_show(junk)
    with pytest.raises(ShowError, match="not found"):
        read_show(tmp_path / "none.json")


def test_missing_style_is_named(library, track, tmp_path):
    d = good(library, track)
    d["styles"][1]["id"] = d["segments"][1]["style"] = "gone-style"
    d["styles"][1]["name"] = "Gone style"
    show = read_show(write(tmp_path, d))
    with pytest.raises(ShowError, match=r"style 'Gone style' \(gone-style\) is not in the "
                                        "library"):
        open_show(show, library)


def test_moved_track_offers_track_new_and_checks_the_hash(library, track, tmp_path):
    show = read_show(write(tmp_path, good(library, track)))
    moved = tmp_path / "moved.wav"
    shutil.move(track, moved)
    with pytest.raises(ShowError, match="is not there .* --track NEW"):
        open_show(show, library)
    scene = open_show(show, library, track=moved)
    assert scene.track == moved
    other = tmp_path / "other.wav"
    other.write_bytes(moved.read_bytes()[:-100] + b"\x01" * 100)
    with pytest.raises(ShowError, match="not the track .* was made for"):
        check_track(show, other)


def test_changed_style_weights_warn(library, library_dir, track, tmp_path):
    d = good(library, track)
    d["styles"][0]["weights_sha256"] = "0" * 64
    notes = []
    open_show(read_show(write(tmp_path, d)), library, warn=notes.append)
    assert len(notes) == 1 and "has changed since the show was saved" in notes[0]


def test_last_segment_holds_to_the_end(library, track, tmp_path):
    scene = open_show(read_show(write(tmp_path, good(library, track))), library)
    assert math.isinf(scene.segments[-1].end)
    assert scene.frame_at(500.0).style == scene.segments[-1].style
