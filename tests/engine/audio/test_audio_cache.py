"""The on-disk cache (content hash + parameters), chunked analysis equal to one-piece
analysis, and memory that does not grow with the track's length."""

from __future__ import annotations

import time
import tracemalloc
import warnings

import numpy as np
import pytest
import soundfile as sf
from audio_synth import drum_track

import engine.audio.analyze as an
from engine.audio.analyze import analyse_frames, analyze, cache_path


def test_second_open_reads_the_cache(drum_120, tmp_path, monkeypatch):
    path = drum_120[0]
    first = analyze(path, cache_dir=tmp_path)
    entry = cache_path(path, tmp_path)
    assert entry.is_file() and entry.parent == tmp_path

    def boom(*a, **k):
        raise AssertionError("analysed again despite the cache")

    monkeypatch.setattr(an, "analyse_frames", boom)
    t0 = time.perf_counter()
    again = analyze(path, cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 1.0  # measured ~0.02 s for this 20 s track
    for name in ("rms", "onset", "bass", "chroma", "beat_times"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    # A copy under another name hits the same entry: the key is the content.
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(path.read_bytes())
    analyze(copy, cache_dir=tmp_path)


def test_key_follows_content_and_bad_entries_are_recomputed(drum_120, tmp_path):
    path = drum_120[0]
    other = tmp_path / "other.wav"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # one changed sample
    other.write_bytes(bytes(data))
    assert cache_path(path, tmp_path) != cache_path(other, tmp_path)
    entry = cache_path(path, tmp_path)
    entry.write_bytes(b"garbage")
    f = analyze(path, cache_dir=tmp_path)
    f.validate()
    assert entry.stat().st_size > 1000  # rewritten


def test_default_cache_dir_and_opt_out(drum_120, tmp_path, monkeypatch):
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "env"))
    assert an.default_cache_dir() == tmp_path / "env" / "audio"
    analyze(drum_120[0], use_cache=False)
    assert not (tmp_path / "env").exists()
    analyze(drum_120[0])
    assert len(list((tmp_path / "env" / "audio").glob("*.npz"))) == 1


def test_unwritable_cache_only_warns(drum_120, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = analyze(drum_120[0], cache_dir=blocker / "cache")
    f.validate()
    assert any("cache" in str(w.message) for w in caught)


def test_chunked_analysis_equals_one_piece(drum_120):
    """Chunks with context give the same frames as one big chunk, at any chunk size."""
    path = drum_120[0]
    whole = analyse_frames(path, chunk_frames=100_000)
    for chunk in (29, 300):
        part = analyse_frames(path, chunk_frames=chunk)
        assert part.n == whole.n
        for key, value in whole.frames.items():
            np.testing.assert_allclose(part.frames[key], value, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{key} at chunk {chunk}")
        assert part.tempo == pytest.approx(whole.tempo)
        assert np.array_equal(part.beat_times, whole.beat_times)


def _peak_bytes(path) -> int:
    tracemalloc.start()
    try:
        analyse_frames(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_length(tmp_path):
    """Peak memory of a 4-minute track stays close to that of a 1-minute one (the chunk's
    working set dominates; per-frame results are ~3.6 kB per second). bench/audio.py
    measures a 3-hour file."""
    y, _ = drum_track(128.0, duration=60.0, sr=22050, hats=False)
    short, long_ = tmp_path / "1min.wav", tmp_path / "4min.wav"
    sf.write(str(short), y, 22050, subtype="PCM_16")
    sf.write(str(long_), np.tile(y, 4), 22050, subtype="PCM_16")
    p1, p4 = _peak_bytes(short), _peak_bytes(long_)
    assert p4 < 1.25 * p1 + 4e6, (p1, p4)
    assert p4 < 150e6


def test_a_killed_runs_half_written_entry_is_removed(drum_120, tmp_path):
    """A temporary left by a kill -9 mid-write (older than any live write) goes on the next
    cache write; a fresh one (a write in progress elsewhere) stays."""
    import os

    from engine.atomic import STALE_AFTER_S, temp_path

    entry = cache_path(drum_120[0], tmp_path)
    stale, fresh = temp_path(entry), temp_path(entry)
    stale.write_bytes(b"half")
    fresh.write_bytes(b"busy")
    old = time.time() - STALE_AFTER_S - 60
    os.utime(stale, (old, old))
    analyze(drum_120[0], cache_dir=tmp_path)
    assert not stale.exists() and fresh.exists() and entry.is_file()
