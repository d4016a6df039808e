"""Audio analysis: decode any track, extract features, cache them, resample to a video fps.

This module is the pipeline and its public face; each job lives in its own module:

1. **Decode** (:mod:`engine.audio.decode`): stream any file libsndfile reads as mono
   blocks at 22050 Hz; bad files get one clear error, truncated ones keep what decodes.
2. **Frame-level features** (:mod:`engine.audio.frames`): chunk by chunk with overlap, so
   memory stays bounded and chunks equal a whole-signal analysis.
3. **Tempo and beats** (:mod:`engine.audio.beats`) from the whole onset envelope.
4. **Cache** (:mod:`engine.audio.cache`): the frame-level results by file content, so a
   re-open skips 1-3.
5. **Video rate** (:mod:`engine.audio.video_rate`): resample to any fps, normalise and
   smooth (:mod:`engine.audio.smoothing`) into :class:`AudioFeatures`.

Bars and sections are built on the same cached analysis in :mod:`engine.audio.structure`.
Every name other modules import from here before the split is still importable here.
"""

from __future__ import annotations

import math
import warnings

from engine.audio.beats import (
    BEAT_TIGHTNESS,
    MIN_BEAT_CONFIDENCE,
    TEMPO_FALLOFF_OCT,
    TEMPO_ONSET_SIGMA,
    TEMPO_RANGE,
    TEMPOGRAM_WIN,
    track_beats,
)
from engine.audio.cache import (
    ANALYSIS_VERSION,
    RawAnalysis,
    cache_path,
    default_cache_dir,
    file_hash,
)
from engine.audio.decode import (
    ANALYSIS_SR,
    MAX_SAMPLE,
    READ_BLOCK,
    SMALL_BLOCK,
    Decoded,
    ProgressFn,
    audio_info,
    check_audio_path,
    check_cancel,
    iter_mono,
    load_audio,
)
from engine.audio.features import AudioFeatures
from engine.audio.frames import (
    BANDS,
    CHUNK_FRAMES,
    CONTEXT_FRAMES,
    FRAME_RATE,
    HOP,
    HPSS_KERNEL,
    MEL_FLOOR_DB,
    N_FFT,
    N_MELS,
    N_MFCC,
    ONSET_FLOOR,
    RAW_KEYS,
    RMS_FLOOR,
    VECTOR_KEYS,
    frame_features,
)
from engine.audio.smoothing import (
    DEFAULT_SMOOTHING,
    one_pole_coefficient,
    resolve_smoothing,
    smooth,
    smooth_features,
)
from engine.audio.video_rate import (
    BAND_AVERAGE_S,
    BAND_FLOOR,
    BAND_MAX,
    CENTROID_RANGE_HZ,
    estimate_key,
    resample_max,
    resample_mean,
    to_video_rate,
)
from engine.errors import SonolumeError

__all__ = [
    "ANALYSIS_SR",
    "ANALYSIS_VERSION",
    "AudioFeatures",
    "BANDS",
    "BAND_AVERAGE_S",
    "BAND_FLOOR",
    "BAND_MAX",
    "BEAT_TIGHTNESS",
    "CENTROID_RANGE_HZ",
    "CHUNK_FRAMES",
    "CONTEXT_FRAMES",
    "DEFAULT_SMOOTHING",
    "Decoded",
    "FRAME_RATE",
    "HOP",
    "HPSS_KERNEL",
    "MAX_SAMPLE",
    "MEL_FLOOR_DB",
    "MIN_BEAT_CONFIDENCE",
    "N_FFT",
    "N_MELS",
    "N_MFCC",
    "ONSET_FLOOR",
    "ProgressFn",
    "RAW_KEYS",
    "READ_BLOCK",
    "RMS_FLOOR",
    "RawAnalysis",
    "SMALL_BLOCK",
    "TEMPOGRAM_WIN",
    "TEMPO_FALLOFF_OCT",
    "TEMPO_ONSET_SIGMA",
    "TEMPO_RANGE",
    "VECTOR_KEYS",
    "analyse_frames",
    "analyze",
    "audio_info",
    "cache_path",
    "check_audio_path",
    "check_cancel",
    "default_cache_dir",
    "estimate_key",
    "file_hash",
    "frame_features",
    "iter_mono",
    "load_audio",
    "one_pole_coefficient",
    "raw_analysis",
    "resample_max",
    "resample_mean",
    "resolve_smoothing",
    "smooth",
    "smooth_features",
    "to_video_rate",
    "track_beats",
]


def analyse_frames(
    path, progress: ProgressFn | None = None, cancel=None, chunk_frames: int = CHUNK_FRAMES,
) -> RawAnalysis:
    """Stream-decode ``path`` and compute the frame-level features chunk by chunk, then
    the tempo and beats."""
    if chunk_frames < 1:
        raise ValueError("chunk_frames must be >= 1")
    head = audio_info(path)
    expected = max(head["duration"], 1e-9)
    info = Decoded()

    def on_chunk(seconds: float) -> None:
        if progress is not None:
            progress(0.9 * min(seconds / expected, 1.0), "analysing")
        check_cancel(cancel)

    blocks = iter_mono(path, ANALYSIS_SR, info=info, cancel=cancel)
    frames, total_samples = frame_features(blocks, chunk_frames, on_chunk)
    if info.source_frames == 0 or total_samples == 0:
        raise SonolumeError(f"audio file {path} contains no audio samples")
    if progress is not None:
        progress(0.9, "tracking beats")
    tempo, beats, confidence = track_beats(frames["onset"], frames["rms"])
    duration = info.source_frames / info.source_rate
    if info.warnings:
        for w in info.warnings:
            warnings.warn(f"{path}: {w}", stacklevel=2)
    return RawAnalysis(
        duration=duration,
        source_rate=info.source_rate,
        channels=info.channels,
        tempo=tempo,
        beat_times=beats,
        beat_confidence=confidence,
        frames=frames,
        warnings=info.warnings,
    )


def raw_analysis(path, cache_dir=None, progress: ProgressFn | None = None, cancel=None,
                 use_cache: bool = True, entry=None) -> RawAnalysis:
    """The frame-level results of ``path``: from the cache when an entry for this content
    exists, else computed (and stored unless ``use_cache`` is False). ``entry``: the
    entry's path when the caller has already hashed the file (:func:`cache_path`)."""
    path = check_audio_path(path)
    raw = None
    if not use_cache:
        entry = None
    elif entry is None:
        entry = cache_path(path, cache_dir)
    if entry is not None and entry.is_file():
        try:
            raw = RawAnalysis.load(entry)
        except Exception:  # a corrupt or stale entry is recomputed
            raw = None
    if raw is None:
        raw = analyse_frames(path, progress=progress, cancel=cancel)
        if entry is not None:
            try:
                raw.save(entry)
            except OSError as exc:
                warnings.warn(f"could not write the analysis cache {entry}: {exc}", stacklevel=3)
    return raw


def analyze(
    path, fps: float = 30.0, cache_dir=None, progress: ProgressFn | None = None, cancel=None,
    smoothing=None, use_cache: bool = True,
) -> AudioFeatures:
    """Analyse an audio file into per-video-frame features (see :mod:`engine.audio.features`).

    ``cache_dir``: where frame-level results are cached (default :func:`default_cache_dir`);
    ``use_cache=False`` neither reads nor writes it. ``progress(fraction, stage)`` is called
    with fraction in [0, 1]. ``cancel``: a ``threading.Event`` (or a callable returning
    True) that stops the work with :class:`~engine.errors.Cancelled`. ``smoothing``: None
    for :data:`DEFAULT_SMOOTHING`, ``"none"`` to disable, or ``{feature: (attack_s,
    release_s)}`` overriding some features. SonolumeError for unreadable or empty files.
    """
    if not (isinstance(fps, (int, float)) and fps > 0 and math.isfinite(fps)):
        raise SonolumeError(f"fps must be a positive number, not {fps!r}")
    path = check_audio_path(path)
    resolve_smoothing(smoothing)  # fail fast on a bad spec
    raw = raw_analysis(path, cache_dir=cache_dir, progress=progress, cancel=cancel,
                       use_cache=use_cache)
    feats = to_video_rate(raw, fps, smoothing)
    if progress is not None:
        progress(1.0, "done")
    return feats
