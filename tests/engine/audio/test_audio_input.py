"""Formats, sample rates, channel counts, and bad input: each gives a correct result or a
clear SonolumeError, never a crash or NaN."""

from __future__ import annotations

import contextlib
import math
import os
import threading

import numpy as np
import pytest
import soundfile as sf
from audio_synth import drum_track

from engine.audio.analyze import analyze, audio_info, iter_mono, load_audio
from engine.errors import Cancelled, SonolumeError


@pytest.fixture(scope="module")
def beat_8s():
    y, _ = drum_track(120.0, duration=8.0, sr=48000)
    return y


@pytest.mark.parametrize(
    "name,fmt,subtype,sr,channels",
    [
        ("a.wav", "WAV", "PCM_16", 44100, 2),
        ("b.flac", "FLAC", "PCM_24", 48000, 1),
        ("c.ogg", "OGG", "VORBIS", 32000, 2),
        ("d.mp3", "MP3", "MPEG_LAYER_III", 44100, 2),
        ("e.wav", "WAV", "FLOAT", 192000, 8),
        ("f.wav", "WAV", "PCM_U8", 8000, 1),
    ],
)
def test_formats_rates_and_channels(tmp_path, beat_8s, name, fmt, subtype, sr, channels):
    import soxr

    y = soxr.resample(beat_8s, 48000, sr) if sr != 48000 else beat_8s
    data = np.stack([y * (1 - 0.05 * c) for c in range(channels)], axis=1)
    path = tmp_path / name
    sf.write(str(path), data, sr, format=fmt, subtype=subtype)
    info = audio_info(path)
    assert info["sample_rate"] == sr and info["channels"] == channels
    f = analyze(path, use_cache=False)
    f.validate()
    # MP3 encoders pad the start and end by a frame or two.
    assert f.duration == pytest.approx(8.0, abs=0.08)
    assert f.stats["channels"] == channels and f.stats["source_sample_rate"] == sr
    assert f.tempo == pytest.approx(120.0, rel=0.02)


def test_load_audio_resamples_and_mixes_down(tmp_path):
    t = np.arange(96000) / 96000
    left = np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "stereo96k.wav"
    sf.write(str(path), np.stack([left, -left], axis=1), 96000, subtype="FLOAT")
    y, sr = load_audio(path, sr=22050)
    assert sr == 22050 and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 22050) <= 1
    assert np.abs(y).max() < 1e-6  # opposite channels cancel in the mono mix
    path2 = tmp_path / "mono96k.wav"
    sf.write(str(path2), left, 96000, subtype="FLOAT")
    y2, sr2 = load_audio(path2, sr=None)
    assert sr2 == 96000 and len(y2) == 96000
    y3, _ = load_audio(path2, sr=22050)
    assert np.sqrt(np.mean(y3[1000:-1000] ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


def _expect_error(path, match):
    with pytest.raises(SonolumeError, match=match):
        analyze(path, use_cache=False)


def test_unreadable_files_give_clear_errors(tmp_path):
    rnd = tmp_path / "random.mp3"
    rnd.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _expect_error(rnd, "cannot read audio file")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _expect_error(empty, "cannot read audio file")
    no_samples = tmp_path / "no-samples.wav"
    sf.write(str(no_samples), np.zeros((0, 2), np.float32), 44100)
    _expect_error(no_samples, "no audio samples")
    _expect_error(tmp_path / "missing.wav", "not found")
    _expect_error(tmp_path, "not found")  # a folder
    with pytest.raises(SonolumeError):
        audio_info(rnd)
    with pytest.raises(SonolumeError):
        load_audio(no_samples)


@pytest.mark.parametrize("fmt,subtype,ext", [("WAV", "PCM_16", "wav"), ("FLAC", "PCM_16", "flac"),
                                             ("OGG", "VORBIS", "ogg"),
                                             ("MP3", "MPEG_LAYER_III", "mp3")])
def test_truncated_files_keep_what_decodes(tmp_path, beat_8s, fmt, subtype, ext):
    whole = tmp_path / f"whole.{ext}"
    sf.write(str(whole), beat_8s, 48000, format=fmt, subtype=subtype)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning) if fmt == "FLAC" else contextlib.nullcontext():
        f = analyze(cut, use_cache=False)
    f.validate()
    assert 2.0 < f.duration < 6.0
    assert np.isfinite(f.rms).all()
    # A file cut inside its header is unreadable, with a clear error.
    stub = tmp_path / f"stub.{ext}"
    stub.write_bytes(data[:20])
    _expect_error(stub, "cannot read audio file|no audio samples")


def test_silence_nan_and_tiny_inputs(tmp_path):
    sil = tmp_path / "silence.flac"
    sf.write(str(sil), np.zeros((44100 * 4, 2), np.float32), 44100)
    f = analyze(sil, use_cache=False)
    f.validate()
    assert f.tempo == 0.0 and f.rms.max() == 0.0 and f.centroid.max() == 0.0
    assert f.chroma.max() == 0.0 and f.bass.max() == 0.0

    bad = np.random.default_rng(2).standard_normal(22050 * 2).astype(np.float32) * 0.1
    bad[1000:1100] = np.nan
    bad[5000] = np.inf
    bad[6000] = 1e30
    nanfile = tmp_path / "nan.wav"
    sf.write(str(nanfile), bad, 22050, subtype="FLOAT")
    g = analyze(nanfile, use_cache=False)
    g.validate()

    tiny = tmp_path / "tiny.wav"
    sf.write(str(tiny), np.full(10, 0.5, np.float32), 44100)
    h = analyze(tiny, use_cache=False)
    h.validate()
    assert h.n_frames == 1 and h.tempo == 0.0

    quiet = tmp_path / "dither.wav"  # -90 dBFS noise is treated as silence, not boosted
    sf.write(str(quiet), (3e-5 * np.random.default_rng(3).standard_normal(22050 * 3)).astype(
        np.float32), 22050, subtype="FLOAT")
    q = analyze(quiet, use_cache=False)
    assert q.rms.max() < 0.05 and q.onset.max() < 0.05 and q.tempo == 0.0


def test_bad_parameters(tmp_path, drum_120):
    for fps in (0, -1, float("nan"), float("inf")):
        with pytest.raises(SonolumeError):
            analyze(drum_120[0], fps=fps)
    with pytest.raises(SonolumeError):
        analyze(drum_120[0], smoothing="fast")


def test_progress_and_cancel(drum_120):
    seen = []
    analyze(drum_120[0], use_cache=False, progress=lambda frac, stage: seen.append((frac, stage)))
    fracs = [s[0] for s in seen]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0 and 0.0 <= fracs[0]
    assert {s[1] for s in seen} >= {"analysing", "tracking beats", "done"}
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        analyze(drum_120[0], use_cache=False, cancel=ev)
    with pytest.raises(Cancelled):
        analyze(drum_120[0], use_cache=False, cancel=lambda: True)


def test_iter_mono_streams_in_bounded_blocks(tmp_path):
    y = np.random.default_rng(5).standard_normal(44100 * 10).astype(np.float32) * 0.1
    path = tmp_path / "ten.wav"
    sf.write(str(path), y, 44100)
    sizes = [len(b) for b in iter_mono(path, sr=22050, block=8192)]
    assert max(sizes) <= 8192 // 2 + 64
    assert abs(sum(sizes) - 22050 * 10) <= 2
    assert os.path.getsize(path) > 0


def test_not_audio_empty_and_folder_say_why(tmp_path, capfd):
    """Random bytes or an empty file named .mp3 are "not a readable audio file" (with the
    reason), a folder is called a folder, and libmpg123's own notes stay off stderr."""
    rnd = tmp_path / "noise.mp3"
    rnd.write_bytes(np.random.default_rng(1).integers(0, 256, 1000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    for fn in (audio_info, lambda p: analyze(p, use_cache=False), load_audio):
        with pytest.raises(SonolumeError, match="not a readable audio file .*no format"):
            fn(rnd)
        with pytest.raises(SonolumeError, match="not a readable audio file .*empty, 0 bytes"):
            fn(empty)
        with pytest.raises(SonolumeError, match="is a folder"):
            fn(tmp_path)
    err = capfd.readouterr().err
    assert "does not exist" not in err and "Note:" not in err and "libmpg123" not in err


def test_native_stderr_is_replayed_when_the_file_opens(tmp_path, capfd):
    """Holding C-level stderr while opening must not swallow what others write there."""
    from engine.audio.decode import _native_stderr_held

    with _native_stderr_held():
        os.write(2, b"kept line\n")
    assert "kept line" in capfd.readouterr().err


def test_one_smoothing_coefficient_everywhere():
    from engine.audio import smoothing
    from engine.reactive import mapping

    assert mapping.alpha is smoothing.one_pole_coefficient
    assert smoothing.one_pole_coefficient(0.0, 30.0) == 1.0
    assert smoothing.one_pole_coefficient(1.0, 30.0) == pytest.approx(1 - math.exp(-1 / 30))
