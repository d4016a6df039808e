"""Audio analysis: per-video-frame features (loudness, onsets, beats, HPSS, bands,
brightness, chroma) with documented ranges, cached on disk. See features.py and analyze.py."""

from engine.audio.analyze import DEFAULT_SMOOTHING, analyze, audio_info, load_audio
from engine.audio.features import FEATURE_NAMES, FEATURE_RANGES, AudioFeatures

__all__ = [
    "DEFAULT_SMOOTHING",
    "FEATURE_NAMES",
    "FEATURE_RANGES",
    "AudioFeatures",
    "analyze",
    "audio_info",
    "load_audio",
]
