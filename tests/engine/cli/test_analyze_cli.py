"""``sonolume analyze``: the summary, --json, --plot, and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.cli.main import main

DEMO = Path(__file__).resolve().parents[3] / "resources" / "audio" / "demo.ogg"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_analyze_prints_tempo_beats_duration_and_key(cache, tmp_path, capsys):
    out_json, out_png = tmp_path / "f.json", tmp_path / "plots" / "f.png"
    assert main(["analyze", str(DEMO), "--json", str(out_json), "--plot", str(out_png),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "tempo     120.0 BPM" in text
    assert "duration  36.00 s  (1080 frames at 30 fps)" in text
    assert "beats     " in text and "key       A minor" in text
    data = json.loads(out_json.read_text())
    assert data["tempo"] == pytest.approx(120.0, rel=0.005)
    assert data["n_frames"] == 1080 and len(data["features"]["rms"]) == 1080
    assert len(data["features"]["chroma"][0]) == 12
    assert data["info"]["channels"] == 2 and data["beat_times"]
    from PIL import Image

    with Image.open(out_png) as im:
        assert im.size[0] == 1400 and im.size[1] > 600
        px = np.asarray(im.convert("RGB"))
    assert px.std() > 10  # something was drawn
    # Second run: from the cache, at another fps.
    assert main(["analyze", str(DEMO), "--fps", "24", "--quiet", "--json", str(out_json),
                 "--no-curves"]) == 0
    text = capsys.readouterr().out
    assert "(from cache)" in text and "864 frames at 24 fps" in text
    data = json.loads(out_json.read_text())
    assert "features" not in data and data["n_frames"] == 864


def test_analyze_silence_and_errors(cache, tmp_path, capsys):
    sil = tmp_path / "silence.wav"
    sf.write(str(sil), np.zeros(22050, np.float32), 22050)
    assert main(["analyze", str(sil), "--no-cache", "--quiet"]) == 0
    assert "tempo     none" in capsys.readouterr().out
    assert not cache.exists()
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00\x01" * 500)
    assert main(["analyze", str(junk)]) == 2
    assert "cannot read audio file" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "nope.wav")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["analyze", str(sil), "--fps", "0"]) == 2
    assert main(["analyze", str(sil), "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_analyze_json_and_plot_carry_bars_and_sections(cache, tmp_path, capsys):
    out_json, out_png = tmp_path / "s.json", tmp_path / "s.png"
    assert main(["analyze", str(DEMO), "--json", str(out_json), "--no-curves", "--plot",
                 str(out_png), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "bars      18  (4 beats a bar" in text and "sections  A B C B" in text
    data = json.loads(out_json.read_text())
    assert data["meter"] == 4 and len(data["downbeats"]) == 18
    # The demo's bars are 2 s long from 0 s (engine/audio/demo_track.py).
    assert np.allclose(data["downbeats"], np.arange(18) * 2.0, atol=0.07)
    assert [s["label"] for s in data["sections"]] == ["A", "B", "C", "B"]
    assert [round(s["start"]) for s in data["sections"]] == [0, 8, 16, 24]
    assert all(s["start"] in data["downbeats"] for s in data["sections"][1:])
    from PIL import Image

    with Image.open(out_png) as im:
        px = np.asarray(im.convert("RGB"))
    # The sections lane: the first label's colour fills a band under the waveform.
    from engine.audio.plot import SECTION_COLOURS

    assert (np.abs(px.astype(int) - SECTION_COLOURS[0]).sum(axis=2) == 0).sum() > 5000
    # --meter 3 and --downbeat-shift reach the analysis.
    assert main(["analyze", str(DEMO), "--json", str(out_json), "--no-curves", "--quiet",
                 "--meter", "3", "--downbeat-shift", "1"]) == 0
    data = json.loads(out_json.read_text())
    assert data["meter"] == 3
    assert np.allclose(np.diff(data["downbeats"]), 1.5, atol=0.05)
    capsys.readouterr()
    assert main(["analyze", str(DEMO), "--meter", "1", "--quiet"]) == 2
    assert "meter must be a whole number" in capsys.readouterr().err


def test_analyze_json_on_a_full_disk_leaves_nothing(cache, tmp_path, monkeypatch, capsys):
    """A write that fails half-way (ENOSPC) leaves neither the target nor a temporary."""
    import builtins
    import errno
    import io

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real_open = builtins.open

    class FullDisk(io.FileIO):
        def write(self, b):
            super().write(bytes(b)[:100])
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(file, mode="r", *a, **k):
        if "w" in str(mode) and str(file).startswith(str(out_dir)):
            return FullDisk(file, "w")
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    assert main(["analyze", str(DEMO), "--json", str(out_dir / "f.json"), "--quiet"]) == 2
    assert "No space left" in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []


def test_analyze_names_folders_and_non_audio(cache, tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    assert main(["analyze", str(empty)]) == 2
    assert "not a readable audio file (the file is empty" in capsys.readouterr().err


def test_analyze_progress_in_a_log_is_a_few_lines(cache, capsys):
    """stderr captured (not a terminal): a line every few seconds at most, not a redraw
    per chunk."""
    assert main(["analyze", str(DEMO), "--no-cache"]) == 0
    err = capsys.readouterr().err
    assert len(err.splitlines()) <= 4 and "\r" not in err
