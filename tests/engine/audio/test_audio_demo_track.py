"""The bundled demo track: present, small, licensed, and reproducible from its script."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from audio_synth import DEMO

from engine.audio import demo_track


def test_bundled_demo_is_small_and_licensed():
    assert DEMO.is_file()
    assert DEMO.stat().st_size < 1_000_000
    info = sf.info(str(DEMO))
    assert info.samplerate == demo_track.SR and info.channels == 2
    assert abs(info.duration - demo_track.DURATION) < 0.05
    readme = (DEMO.parent / "README.md").read_text()
    assert "CC0" in readme and "demo_track" in readme
    assert "CC0" in (DEMO.parent / "LICENSE").read_text()


def test_synthesis_is_deterministic_and_sane():
    a = demo_track.synthesize(duration_bars=2)
    b = demo_track.synthesize(duration_bars=2)
    assert a.shape == (int(round(2 * demo_track.BAR * demo_track.SR)), 2)
    assert np.array_equal(a, b)
    assert np.isfinite(a).all() and 0.85 < np.abs(a).max() <= 10 ** (-1 / 20) + 1e-6


def test_script_writes_a_track(tmp_path):
    out = tmp_path / "demo.flac"
    assert demo_track.main([str(out), "--bars", "1"]) == 0
    y, sr = sf.read(str(out))
    assert sr == demo_track.SR and abs(len(y) / sr - demo_track.BAR) < 0.01


def test_demo_path_falls_back_to_a_generated_copy(tmp_path, monkeypatch):
    assert demo_track.demo_path() == DEMO
    monkeypatch.setattr(demo_track, "BUNDLED", tmp_path / "missing.ogg")
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))
    path = demo_track.demo_path()
    assert path == tmp_path / "cache" / "demo.ogg" and path.is_file()
    assert abs(sf.info(str(path)).duration - demo_track.DURATION) < 0.05
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
