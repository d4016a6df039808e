"""Bars and sections: downbeats on accented synthetic grooves, sections of a three-part
track, the Structure contract (bar_at, JSON round trip, bad JSON) and the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.audio.structure import Section, Structure, analyze_structure
from engine.audio.synthetic import accented_track, sectioned_track
from engine.errors import SonolumeError


def _hit_rate(found: np.ndarray, truth: np.ndarray, tol: float = 0.07) -> float:
    if len(found) == 0:
        return 0.0
    return float(np.mean([np.min(np.abs(found - t)) <= tol for t in truth]))


@pytest.fixture(scope="module")
def aba(tmp_path_factory):
    track = sectioned_track("ABA", bars_each=8, bpm=120.0)
    path = tmp_path_factory.mktemp("structure") / "aba.wav"
    track.write(path)
    return path, track


@pytest.mark.parametrize("bpm,meter", [(90.0, 4), (120.0, 4), (174.0, 4), (120.0, 3)])
def test_downbeats_of_accented_grooves(tmp_path, bpm, meter):
    track = accented_track(bpm, meter=meter, bars=12)
    path = tmp_path / "groove.wav"
    track.write(path)
    s = analyze_structure(path, meter=meter, cache_dir=tmp_path / "cache")
    assert s.meter == meter
    # The tracker may drop the very first beat; every other bar's downbeat is found.
    assert _hit_rate(s.downbeats, track.downbeats[1:]) == 1.0
    assert s.downbeats.dtype == np.float64
    assert np.all(np.isin(s.downbeats, s.beats))


def test_shift_moves_the_first_downbeat_by_whole_beats(tmp_path):
    track = accented_track(120.0, meter=4, bars=8)
    path = tmp_path / "groove.wav"
    track.write(path)
    base = analyze_structure(path, cache_dir=tmp_path)
    shifted = analyze_structure(path, downbeat_shift=1, cache_dir=tmp_path)
    back = analyze_structure(path, downbeat_shift=-3, cache_dir=tmp_path)
    i = int(np.searchsorted(base.beats, base.downbeats[0]))
    assert shifted.downbeats[0] == pytest.approx(base.beats[i + 1])
    assert np.array_equal(shifted.downbeats, back.downbeats)  # -3 = +1 in 4/4
    # The wrong meter still gives a downbeat every 3 beats.
    three = analyze_structure(path, meter=3, cache_dir=tmp_path)
    assert np.allclose(np.diff(three.downbeats), 1.5, atol=0.05)


def test_three_part_track_sections_within_one_beat(aba, tmp_path):
    path, track = aba
    s = analyze_structure(path, cache_dir=tmp_path)
    beat = 60.0 / 120.0
    assert s.labels == ("A", "B", "A")
    assert s.sections[0].start == 0.0 and s.sections[-1].end == pytest.approx(s.duration)
    for found, (start, _end, _label) in zip(s.sections[1:], track.sections[1:]):
        assert abs(found.start - start) <= beat, (found, start)
        assert found.start in s.downbeats  # boundaries sit on downbeats
    for a, b in zip(s.sections[:-1], s.sections[1:]):
        assert a.end == b.start


def test_returning_section_shares_its_label(tmp_path):
    track = sectioned_track("ABCB", bars_each=6, bpm=120.0)
    path = tmp_path / "abcb.wav"
    track.write(path)
    s = analyze_structure(path, cache_dir=tmp_path)
    assert s.labels == ("A", "B", "C", "B")


def test_one_texture_is_one_section(tmp_path):
    track = accented_track(120.0, meter=4, bars=24)
    path = tmp_path / "loop.wav"
    track.write(path)
    assert analyze_structure(path, cache_dir=tmp_path).labels == ("A",)


def test_structure_contract_bar_at_and_json_round_trip(aba, tmp_path):
    s = analyze_structure(aba[0], cache_dir=tmp_path)
    d = s.downbeats
    assert s.bar_at(0.0) == 0 and s.bar_at(d[0] - 0.01) == 0
    assert s.bar_at(d[3]) == 3 and s.bar_at(d[3] - 1e-3) == 2
    assert s.bar_at(1e9) == len(d) - 1
    text = json.dumps(s.to_json())  # plain JSON types only
    back = Structure.from_json(json.loads(text))
    assert back.meter == s.meter and back.sections == s.sections
    assert np.allclose(back.beats, s.beats) and np.allclose(back.downbeats, s.downbeats)
    assert back.duration == s.duration


@pytest.mark.parametrize("change,message", [
    ({"meter": 0}, "meter"),
    ({"meter": True}, "meter"),
    ({"duration": float("nan")}, "duration"),
    ({"beats": [1.0, 0.5]}, "beats must increase"),
    ({"downbeats": "x"}, "downbeats"),
    ({"sections": []}, "sections"),
    ({"sections": [{"start": 0.0, "end": -1.0, "label": "A"}]}, "ends before"),
    ({"sections": [{"start": 0.0, "end": 1.0, "label": "A"},
                   {"start": 2.0, "end": 3.0, "label": "B"}]}, "does not start where"),
    ({"sections": [{"start": 0.0, "end": 1.0, "label": 5}]}, "label"),
])
def test_bad_structure_json_is_one_clear_error(change, message):
    good = Structure(np.array([0.5, 1.0]), np.array([0.5]), 4, (Section(0.0, 2.0, "A"),), 2.0)
    d = {**good.to_json(), **change}
    with pytest.raises(SonolumeError, match=message):
        Structure.from_json(d)


def test_bad_meter_and_shift(aba, tmp_path):
    for meter in (1, 13, 4.0, "4", True):
        with pytest.raises(SonolumeError, match="meter"):
            analyze_structure(aba[0], meter=meter, cache_dir=tmp_path)
    with pytest.raises(SonolumeError, match="shift"):
        analyze_structure(aba[0], downbeat_shift=0.5, cache_dir=tmp_path)


def test_structure_is_cached_by_content(aba, tmp_path, monkeypatch):
    import engine.audio.structure as st

    first = analyze_structure(aba[0], cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert any("structure" in f for f in files) and any(f.endswith(".npz") for f in files)

    def boom(*a, **k):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(st, "structure_from_raw", boom)
    again = analyze_structure(aba[0], cache_dir=tmp_path)
    assert again.sections == first.sections and np.array_equal(again.downbeats, first.downbeats)


def test_track_without_a_beat_has_no_bars_but_sections(tmp_path):
    """A drumless track: no beats or downbeats, bar_at is 0, and sections still cover it
    (on a half-second grid), changing where the harmony and timbre change."""
    import soundfile as sf

    sr = 22050
    t = np.arange(20 * sr) / sr
    first = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 277 * t)
    second = 0.1 * np.sign(np.sin(2 * np.pi * 311 * t)) + 0.1 * np.sin(2 * np.pi * 415 * t)
    path = tmp_path / "pads.wav"
    sf.write(str(path), np.concatenate([first, second]).astype(np.float32), sr)
    s = analyze_structure(path, cache_dir=tmp_path)
    assert len(s.beats) == 0 and len(s.downbeats) == 0 and s.bar_at(12.0) == 0
    assert s.labels == ("A", "B")
    assert abs(s.sections[1].start - 20.0) <= 0.5
    assert s.sections[-1].end == pytest.approx(40.0, abs=0.01)


def test_short_and_silent_tracks_are_one_section(tmp_path):
    import soundfile as sf

    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros(3 * 22050, np.float32), 22050)
    s = analyze_structure(path, cache_dir=tmp_path)
    assert s.sections == (Section(0.0, 3.0, "A"),) and s.n_bars == 0


def test_beats_are_extended_over_drumless_ends_and_gaps_filled():
    from engine.audio.structure import extend_beats

    true = np.arange(0.25, 30.0, 0.5)  # 120 BPM from 0.25 s
    tracked = true[(true > 8.0) & (true < 26.0)]
    tracked = np.delete(tracked, [10, 20, 21])  # skipped beats: one gap of 2, one of 3
    got = extend_beats(tracked, duration=30.0)
    assert len(got) == len(true)
    assert np.allclose(got, true, atol=1e-6)
    assert np.array_equal(extend_beats(np.array([1.0, 1.5]), 30.0), [1.0, 1.5])  # too few


def test_an_hour_long_analysis_stays_bounded():
    """Beats are grouped so the similarity matrices stay at most MAX_UNITS square: an hour
    at 120 BPM (7200 beats) takes well under a few seconds (measured 1.6 s with the imports)."""
    import time

    from engine.audio.cache import RawAnalysis
    from engine.audio.frames import FRAME_RATE, RAW_KEYS
    from engine.audio.structure import MAX_UNITS, _unit_bounds, structure_from_raw

    k = int(3600 * FRAME_RATE)
    rng = np.random.default_rng(0)
    frames = {key: rng.random(k).astype(np.float32) for key in RAW_KEYS}
    frames["chroma"] = rng.random((k, 12)).astype(np.float32)
    frames["mfcc"] = rng.standard_normal((k, 13)).astype(np.float32)
    beats = np.arange(0.5, 3600.0, 0.5)
    raw = RawAnalysis(3600.0, 44100, 2, 120.0, beats, 0.9, frames)
    bounds = _unit_bounds(np.rint(beats * FRAME_RATE).astype(np.int64), k, FRAME_RATE)
    assert len(bounds) - 1 <= MAX_UNITS
    t0 = time.perf_counter()
    s = structure_from_raw(raw)
    assert time.perf_counter() - t0 < 20.0
    assert s.n_bars == 1800 and s.sections[-1].end == 3600.0
