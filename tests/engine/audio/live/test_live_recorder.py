"""The live recorder writes exactly what came in, atomically, in FLAC or WAV."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from engine import atomic
from engine.audio.live import LiveAudioError, LiveRecorder


def _blocks(dtype, channels=2, n=5, size=777, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        if dtype == "int16":
            yield rng.integers(-32768, 32767, size=(size, channels), dtype=np.int16)
        else:  # 24-bit values as floats: what a 24-bit device delivers as float32
            yield (rng.integers(-2 ** 23, 2 ** 23, size=(size, channels)) / 2 ** 23).astype(
                np.float32)


@pytest.mark.parametrize("suffix,dtype", [(".flac", "int16"), (".flac", "float32"),
                                          (".wav", "float32"), (".wav", "int16")])
def test_recording_is_lossless(tmp_path, suffix, dtype):
    path = tmp_path / f"set{suffix}"
    blocks = list(_blocks(dtype))
    rec = LiveRecorder(path, 48000, 2, dtype)
    for b in blocks:
        rec.write(b)
        assert not path.exists()  # nothing at the target until it is finished
    assert rec.close() == path
    got, sr = sf.read(path, dtype=dtype, always_2d=True)
    assert sr == 48000
    np.testing.assert_array_equal(got, np.concatenate(blocks))
    assert rec.duration == pytest.approx(5 * 777 / 48000)
    assert atomic.stale_temporaries(tmp_path, older_than_s=0) == []


def test_abort_and_exceptions_leave_nothing(tmp_path):
    path = tmp_path / "set.wav"
    rec = LiveRecorder(path, 44100, 1)
    rec.write(np.zeros(1000, np.float32))
    rec.abort()
    assert not path.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), LiveRecorder(path, 44100, 1) as rec2:
        rec2.write(np.zeros(100, np.float32))
        raise RuntimeError("the set crashed")
    assert not path.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(LiveAudioError, match="already closed"):
        rec2.write(np.zeros(100, np.float32))


def test_bad_arguments(tmp_path):
    with pytest.raises(LiveAudioError, match=".flac or .wav"):
        LiveRecorder(tmp_path / "set.mp3", 48000, 2)
    with pytest.raises(LiveAudioError, match="folder does not exist"):
        LiveRecorder(tmp_path / "no" / "set.wav", 48000, 2)
    with pytest.raises(LiveAudioError, match="16000 Hz"):
        LiveRecorder(tmp_path / "set.wav", 8000, 2)
    rec = LiveRecorder(tmp_path / "set.flac", 48000, 2, "int16")
    with pytest.raises(LiveAudioError, match="int16 samples"):
        rec.write(np.zeros((10, 2), np.float32))
    with pytest.raises(LiveAudioError, match="do not split"):
        rec.write(np.zeros(11, np.int16))
    rec.write(np.zeros(10, np.int16))  # interleaved: 5 frames of 2 channels
    rec.close()
    assert sf.info(str(tmp_path / "set.flac")).frames == 5
