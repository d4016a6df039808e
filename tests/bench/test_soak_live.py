"""The pieces of the live soak run (bench/soak_live.py) that judge a run: the skip finder
that tells lost audio in a recorded set, the schedule, and the RSS creep that leaves
one-time loads out."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from bench.soak_live import _creep, audio_skips, schedule


def _music(seconds: float, sr: int = 48000) -> np.ndarray:
    """Something music-like and never repeating: tones that change every 0.1 s on noise."""
    rng = np.random.default_rng(1)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f = 200 + 600 * rng.random(int(seconds * 10) + 1)[(t * 10).astype(int)]
    y = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.05 * rng.standard_normal(n)
    return np.stack([y, y], axis=1).astype(np.float32)


def test_skips_are_found_where_audio_was_cut_out(tmp_path):
    sr = 48000
    src = _music(12.0)
    sf.write(tmp_path / "track.wav", src, sr)
    cut = np.concatenate([src[: 4 * sr], src[4 * sr + int(0.040 * sr): 10 * sr]])
    sf.write(tmp_path / "cut.wav", cut, sr)
    sf.write(tmp_path / "whole.wav", src[sr: 10 * sr], sr)  # starts later: not a skip
    r = audio_skips(tmp_path / "cut.wav", tmp_path / "track.wav")
    assert r["skips"] == 1 and abs(r["lost_ms"] - 40.0) < 1.0, r
    assert 3.5 <= r["first"][0][0] <= 4.5
    clean = audio_skips(tmp_path / "whole.wav", tmp_path / "track.wav")
    assert clean["skips"] == 0 and clean["unmatched"] == 0, clean


def test_schedule_does_every_act_inside_the_run_in_order():
    for minutes in (2, 10, 60):
        d = minutes * 60.0
        p = schedule(d)
        assert all(0 < v <= d for v in p.values()), p
        assert p["record_stop"] - p["record_start"] <= 180.0
        order = ["record_start", "record_stop", "restart_stop", "restart_start",
                 "output2_open", "output2_close", "suspend", "resume", "kill_server",
                 "restart_server", "osc_stop", "close"]
        assert [p[k] for k in order] == sorted(p[k] for k in order), p


def test_creep_leaves_one_time_steps_out():
    # 0.5 MB a minute, plus a 300 MB step at 2 minutes
    pts = [(t, 1000.0 + 0.5 * t / 60.0 + (300.0 if t >= 120 else 0.0)) for t in range(600)]
    creep, steps = _creep(pts)
    assert abs(creep - 0.5) < 0.05 and len(steps) == 1 and 295 < steps[0][1] < 305
