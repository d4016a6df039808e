"""Decoding: any audio file libsndfile reads, streamed as mono blocks at the analysis rate.

Memory stays bounded whatever the track's length: blocks of :data:`READ_BLOCK` source
frames are mixed to mono and resampled on the fly (a streaming soxr resampler) to
:data:`ANALYSIS_SR`. A truncated file keeps what decodes. A file that is not audio, an empty
one, a folder or a missing path each get their own one-line SonolumeError.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import Cancelled, SonolumeError

ANALYSIS_SR = 22050  # every analysis runs at this rate
READ_BLOCK = 1 << 16  # source frames decoded per block
SMALL_BLOCK = 2048  # block size after a decoding error (truncated files)
MAX_SAMPLE = 16.0  # decoded float samples are clipped to +-this (and NaN/inf zeroed)

#: ``progress(fraction in [0, 1], stage)``
ProgressFn = Callable[[float, str], None]

def _soundfile():
    import soundfile

    return soundfile


# libsndfile's words when no decoder took the file. With MP3 support it hands unknown data
# to libmpg123 last, whose failure reads "does not exist or is not a regular file".
_NOT_AUDIO = ("does not exist or is not a regular file", "format not recognised",
              "unknown format", "not a valid", "unrecognised format")


def _read_error(path, exc: Exception) -> SonolumeError:
    """One line saying why ``path`` cannot be read: empty, not audio, or libsndfile's
    own reason (without its "Error opening 'path':" preamble)."""
    path = Path(path)
    msg = str(exc).strip() or type(exc).__name__
    prefix = f"Error opening {str(path)!r}:"
    if msg.startswith(prefix):
        msg = msg[len(prefix):].strip()
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if size == 0:
        return SonolumeError(f"cannot read audio file {path}: not a readable audio file "
                             "(the file is empty, 0 bytes)")
    if any(s in msg.lower() for s in _NOT_AUDIO):
        return SonolumeError(
            f"cannot read audio file {path}: not a readable audio file (its {size} bytes are "
            "in no format libsndfile decodes: WAV, FLAC, OGG, MP3, AIFF, ...)")
    return SonolumeError(f"cannot read audio file {path}: {msg}")


@contextlib.contextmanager
def _native_stderr_held():
    """Hold what C libraries write to file descriptor 2 while a file is opened; replay it
    unless the open failed (then our one-line error says it all: libmpg123 prints "Note:
    Illegal Audio-MPEG-Header" lines for any file it rejects). Another thread writing to
    stderr in these few milliseconds is held and replayed the same way."""
    fd = 2  # C's stderr, whatever Python's sys.stderr is now
    try:
        saved = os.dup(fd)
    except OSError:  # no stderr at all (a GUI without a console)
        yield
        return
    held = tempfile.TemporaryFile()
    failed = False
    try:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(held.fileno(), fd)
        try:
            yield
        except BaseException:
            failed = True
            raise
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        if not failed:
            held.seek(0)
            text = held.read()
            if text:
                with contextlib.suppress(OSError):
                    os.write(fd, text)
        held.close()


def check_audio_path(path) -> Path:
    """``path`` as a Path when it names an existing regular file; else SonolumeError."""
    path = Path(path)
    if path.is_dir():
        raise SonolumeError(f"audio file not found: {path} is a folder")
    if not path.is_file():
        raise SonolumeError(f"audio file not found: {path}")
    return path


def audio_info(path) -> dict:
    """Cheap header facts: ``duration`` (s), ``sample_rate``, ``channels``, ``frames``,
    ``format`` (e.g. "WAV") and ``subtype``. SonolumeError when the file is unreadable."""
    sf = _soundfile()
    path = check_audio_path(path)
    try:
        with _native_stderr_held():
            info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises several types for bad files
        raise _read_error(path, exc) from exc
    frames = int(info.frames) if info.frames and info.frames > 0 else 0
    sr = int(info.samplerate)
    return {
        "duration": frames / sr if sr > 0 else 0.0,
        "sample_rate": sr,
        "channels": int(info.channels),
        "frames": frames,
        "format": str(info.format),
        "subtype": str(info.subtype),
    }


@dataclass
class Decoded:
    """Facts gathered while streaming a file."""

    source_rate: int = 0
    channels: int = 0
    source_frames: int = 0  # frames actually decoded
    warnings: list[str] = field(default_factory=list)


def check_cancel(cancel) -> None:
    """Raise Cancelled when ``cancel`` (an Event, or a callable returning True) is set."""
    if cancel is None:
        return
    flag = cancel.is_set() if hasattr(cancel, "is_set") else cancel()
    if flag:
        raise Cancelled("audio analysis was cancelled")


def iter_mono(
    path, sr: int | None = ANALYSIS_SR, block: int = READ_BLOCK, info: Decoded | None = None,
    cancel=None,
) -> Iterator[np.ndarray]:
    """Yield the track as mono float32 blocks at ``sr`` Hz (the file's own rate if None).

    Never holds more than a block of the file in memory. Decoding errors before any audio
    raise SonolumeError; an error later (a truncated file) ends the stream early and adds a
    line to ``info.warnings``.
    """
    sf = _soundfile()
    info = info if info is not None else Decoded()
    path = check_audio_path(path)
    try:
        with _native_stderr_held():
            f = sf.SoundFile(str(path))
    except Exception as exc:
        raise _read_error(path, exc) from exc
    try:
        info.source_rate = int(f.samplerate)
        info.channels = int(f.channels)
        if info.source_rate <= 0 or info.channels <= 0:
            raise SonolumeError(f"cannot read audio file {path}: bad header")
        out_rate = info.source_rate if sr is None else int(sr)
        stream = None
        if out_rate != info.source_rate:
            import soxr

            stream = soxr.ResampleStream(info.source_rate, out_rate, 1, dtype="float32",
                                         quality="HQ")
        careful = False  # after a decoding error: small blocks from the last good frame
        while True:
            check_cancel(cancel)
            try:
                with _native_stderr_held():
                    data = f.read(SMALL_BLOCK if careful else block, dtype="float32",
                                  always_2d=True)
            except Exception as exc:
                if not careful:
                    # A truncated FLAC, say, fails on the block that crosses its real end
                    # and loses the whole block; re-read from the last good frame in small
                    # blocks to keep all but the last few milliseconds.
                    careful = True
                    try:  # libsndfile's handle is stuck after the error: reopen it
                        f.close()
                        with _native_stderr_held():
                            f = sf.SoundFile(str(path))
                        f.seek(info.source_frames)
                        continue
                    except Exception:
                        pass
                if info.source_frames == 0:
                    raise _read_error(path, exc) from exc
                info.warnings.append(
                    f"decoding stopped after {info.source_frames / info.source_rate:.2f} s "
                    f"({str(exc).strip() or type(exc).__name__}); the rest is ignored"
                )
                data = np.zeros((0, info.channels), dtype=np.float32)
            if data.shape[0] == 0:
                break
            info.source_frames += data.shape[0]
            mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
            mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
            np.clip(mono, -MAX_SAMPLE, MAX_SAMPLE, out=mono)
            if stream is not None:
                mono = stream.resample_chunk(mono, last=False)
            if mono.size:
                yield np.ascontiguousarray(mono, dtype=np.float32)
        if stream is not None:
            tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if tail.size:
                yield np.ascontiguousarray(tail, dtype=np.float32)
    finally:
        f.close()


def load_audio(path, sr: int | None = ANALYSIS_SR) -> tuple[np.ndarray, int]:
    """The whole track as mono float32 at ``sr`` Hz (None: the file's rate) and that rate.

    Channels are averaged. SonolumeError for missing, unreadable or empty files.
    """
    info = Decoded()
    blocks = list(iter_mono(path, sr=sr, info=info))
    if info.source_frames == 0:
        raise SonolumeError(f"audio file {path} contains no audio samples")
    y = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return y, int(sr if sr is not None else info.source_rate)
