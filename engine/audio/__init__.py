"""Audio analysis: per-video-frame features (loudness, onsets, beats, HPSS, bands,
brightness, chroma) with documented ranges, cached on disk.

    from engine.audio.analyze import analyze, load_audio, audio_info
    from engine.audio.features import AudioFeatures, FEATURE_NAMES
    from engine.audio.structure import analyze_structure, Structure  # bars and sections

(The package does not re-export ``analyze`` so that ``engine.audio.analyze`` stays the
module.)"""

from engine.audio.features import FEATURE_NAMES, FEATURE_RANGES, AudioFeatures

__all__ = ["FEATURE_NAMES", "FEATURE_RANGES", "AudioFeatures"]
