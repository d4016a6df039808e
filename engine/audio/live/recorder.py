"""Record live input losslessly, so a set played live can be rendered again from its audio.

The file is written through :func:`engine.atomic.atomic_path`: while recording it is a
``.sonolume-tmp-`` file beside the target, and only :meth:`LiveRecorder.close` puts it in
place, so a reader never sees half a recording at the target path. (A ``kill -9`` leaves
that temporary behind, decodable up to where it stopped; ``remove_stale_temporaries``
clears such files after six hours.)

Formats, chosen by the target's suffix:

* ``.wav``: 16-bit PCM for int16 input, 32-bit float otherwise: bit-exact for either;
* ``.flac``: 16-bit for int16 input, 24-bit otherwise: exact for devices of up to 24 bits
  (float samples are clipped to [-1, 1) and rounded to 24 bits).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

from engine import atomic
from engine.audio.live.frames import LiveAudioError, check_format

FORMATS = {".wav": "WAV", ".flac": "FLAC"}


class LiveRecorder:
    """``rec = LiveRecorder(path, sample_rate, channels, dtype)``; ``rec.write(block)`` for
    every block as it arrives; ``rec.close()`` to keep it, ``rec.abort()`` to drop it.
    Also a context manager (an exception inside aborts). ``write`` is thread-safe, so an
    audio callback may write while the GUI thread closes."""

    def __init__(self, path, sample_rate: int, channels: int, dtype="float32"):
        import soundfile as sf

        self.path = Path(path)
        fmt = FORMATS.get(self.path.suffix.lower())
        if fmt is None:
            raise LiveAudioError(f"cannot record to {self.path.name}: use a .flac or .wav name")
        self.sample_rate, self.channels = check_format(sample_rate, channels)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype("int16"), np.dtype("int32"), np.dtype("float32")):
            raise LiveAudioError(f"recordable sample types: int16, int32, float32, not {dtype}")
        if self.dtype == np.dtype("int16"):
            subtype = "PCM_16"
        else:
            subtype = "FLOAT" if fmt == "WAV" else "PCM_24"
        if not self.path.parent.is_dir():
            raise LiveAudioError(f"cannot record to {self.path}: its folder does not exist")
        self._lock = threading.Lock()
        self._cm = atomic.atomic_path(self.path, suffix=self.path.suffix)
        tmp = self._cm.__enter__()
        try:
            self._file = sf.SoundFile(str(tmp), "w", samplerate=self.sample_rate,
                                      channels=self.channels, format=fmt, subtype=subtype)
        except Exception as exc:
            self._cm.__exit__(type(exc), exc, exc.__traceback__)
            raise LiveAudioError(f"cannot record to {self.path}: {exc}") from exc
        self.subtype = subtype
        self.frames_written = 0
        self.closed = False

    @property
    def duration(self) -> float:
        return self.frames_written / self.sample_rate

    def write(self, block) -> None:
        """Append ``(n,)`` (mono), ``(n, channels)`` or interleaved samples of this
        recorder's dtype (float blocks are converted to float32)."""
        a = np.asarray(block)
        if a.dtype != self.dtype:
            if self.dtype.kind == "f" and a.dtype.kind == "f":
                a = a.astype(np.float32)
            else:
                raise LiveAudioError(f"this recording takes {self.dtype} samples, not {a.dtype}")
        if a.ndim == 1:
            if a.size % self.channels:
                raise LiveAudioError(f"{a.size} samples do not split into {self.channels} "
                                     "channels")
            a = a.reshape(-1, self.channels)
        elif a.ndim != 2 or a.shape[1] != self.channels:
            raise LiveAudioError(f"a block of shape {a.shape} does not fit {self.channels} "
                                 "channel(s)")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        with self._lock:
            if self.closed:
                raise LiveAudioError(f"the recording {self.path.name} is already closed")
            self._file.write(a)
            self.frames_written += a.shape[0]

    def close(self) -> Path:
        """Finish the file and put it at its path; returns the path."""
        with self._lock:
            if self.closed:
                return self.path
            self.closed = True
            try:
                self._file.close()
            except Exception as exc:
                self._cm.__exit__(type(exc), exc, exc.__traceback__)
                raise LiveAudioError(f"cannot finish the recording {self.path}: {exc}") \
                    from exc
            self._cm.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        """Drop the recording: nothing appears at the path."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._file.close()
            finally:
                err = LiveAudioError("recording aborted")
                self._cm.__exit__(LiveAudioError, err, None)

    def __enter__(self) -> LiveRecorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "recording"
        secs = self.duration if math.isfinite(self.duration) else 0.0
        return f"LiveRecorder({self.path.name}, {state}, {secs:.1f} s)"
