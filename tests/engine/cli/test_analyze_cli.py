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
