"""Beat tracking against ground truth: synthetic kick-and-hat tracks with known beats.

Tolerances (stated in the README): tempo within 1% of the truth, with no octave errors
allowed (the tempo prior is flat over 70-190 BPM, so 90, 120 and 174 BPM must come out as
themselves, not halved or doubled); at least 90% of the true beats have a detected beat
within 50 ms (the first and last beat may be trimmed as weak), and at least 95% of the
detected beats lie within 50 ms of a true beat.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from audio_synth import drum_track, tone

from engine.audio.analyze import analyze


def _match(detected: np.ndarray, truth: np.ndarray, tol: float = 0.05):
    if detected.size == 0:
        return 0.0, 0.0
    recall = float(np.mean(np.abs(truth[:, None] - detected[None, :]).min(axis=1) <= tol))
    precision = float(np.mean(np.abs(detected[:, None] - truth[None, :]).min(axis=1) <= tol))
    return recall, precision


@pytest.mark.parametrize("bpm", [90.0, 120.0, 174.0])
def test_tempo_and_beats_match_ground_truth(bpm, audio_dir):
    y, truth = drum_track(bpm, duration=30.0)
    path = audio_dir / f"truth-{bpm:g}.wav"
    sf.write(str(path), y, 44100, subtype="PCM_16")
    f = analyze(path, use_cache=False)
    assert f.tempo == pytest.approx(bpm, rel=0.01)
    recall, precision = _match(f.beat_times, truth)
    assert recall >= 0.9, (recall, f.beat_times[:5], truth[:5])
    assert precision >= 0.95
    # Beats are no more than ~10 ms late or early on average.
    nearest = np.array([f.beat_times[np.argmin(np.abs(f.beat_times - t))] - t for t in truth])
    assert abs(float(np.median(nearest))) < 0.015
    assert f.stats["beat_confidence"] > 0.5


def test_offbeat_hats_do_not_double_the_tempo(audio_dir):
    """Hats on every eighth at 90 BPM make a 180 BPM pulse too; the kick must win."""
    y, _ = drum_track(90.0, duration=20.0, offset=0.4, seed=3)
    path = audio_dir / "hats-90.wav"
    sf.write(str(path), y, 22050)
    assert analyze(path, use_cache=False).tempo == pytest.approx(90.0, rel=0.01)


def test_no_beat_in_noise_pads_or_silence(audio_dir):
    rng = np.random.default_rng(1)
    cases = {
        "noise": (0.1 * rng.standard_normal(22050 * 15)).astype(np.float32),
        "pad": tone(duration=15.0),
        "silence": np.zeros(22050 * 5, dtype=np.float32),
    }
    for name, y in cases.items():
        path = audio_dir / f"nobeat-{name}.wav"
        sf.write(str(path), y, 22050)
        f = analyze(path, use_cache=False)
        assert f.tempo == 0.0, name
        assert f.beat_times.size == 0, name
        assert np.all(f.beat_pulse == 0) and np.all(f.beat_phase == 0), name


def test_demo_track_is_120_bpm(demo_features):
    f = demo_features
    assert f.tempo == pytest.approx(120.0, rel=0.005)
    grid = np.arange(0.0, 36.0, 0.5)
    _, precision = _match(f.beat_times, grid)
    assert precision >= 0.95
    assert len(f.beat_times) >= 45  # the kick plays from 8 s to 36 s (build included)
