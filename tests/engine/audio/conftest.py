"""Audio test fixtures: synthetic tracks written once per session, and an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from audio_synth import DEMO, drum_track


@pytest.fixture(scope="session", autouse=True)
def _audio_cache_env(tmp_path_factory):
    """Point the default analysis cache at a temporary folder for the whole session."""
    old = os.environ.get("SONOLUME_CACHE_DIR")
    os.environ["SONOLUME_CACHE_DIR"] = str(tmp_path_factory.mktemp("sonolume-cache"))
    yield
    if old is None:
        os.environ.pop("SONOLUME_CACHE_DIR", None)
    else:
        os.environ["SONOLUME_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def drum_120(audio_dir) -> tuple[Path, np.ndarray]:
    """A 20 s, 120 BPM kick-and-hat track (44.1 kHz stereo WAV) and its beat times."""
    import soundfile as sf

    y, beats = drum_track(120.0, duration=20.0)
    path = audio_dir / "drums-120.wav"
    sf.write(str(path), np.stack([y, 0.8 * y], axis=1), 44100, subtype="PCM_16")
    return path, beats


@pytest.fixture(scope="session")
def drum_120_features(drum_120):
    from engine.audio.analyze import analyze

    return analyze(drum_120[0], fps=30.0, use_cache=False)


@pytest.fixture(scope="session")
def demo_features():
    from engine.audio.analyze import analyze

    return analyze(DEMO, fps=30.0, use_cache=False)
