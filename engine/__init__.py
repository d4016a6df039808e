"""Sonolume's Qt-free core: CLIP, CPPN styles, audio, rendering, export, research tools."""

__version__ = "0.1.0"
