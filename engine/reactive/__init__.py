"""Reactivity: audio features -> per-frame render parameters (extras, zoom, rotation, ...).

Typical use::

    from engine.reactive import compute_params
    track = compute_params(features, "punchy", extra_inputs=cppn.config.extra_inputs)
    params = track.at(t)          # FrameParams for the renderer, any time t
"""

from engine.reactive.mapping import compute_params, latent_walk, smooth
from engine.reactive.params import FrameParams, ParamTrack, color_matrix
from engine.reactive.preset import (
    DEFAULT_PRESET,
    Mapping,
    Preset,
    PresetError,
    list_presets,
    load_preset,
    preset_from_json,
    read_preset,
    save_preset,
    user_preset_dir,
)

__all__ = [
    "DEFAULT_PRESET", "FrameParams", "Mapping", "ParamTrack", "Preset", "PresetError",
    "color_matrix", "compute_params", "latent_walk", "list_presets", "load_preset",
    "preset_from_json", "read_preset", "save_preset", "smooth", "user_preset_dir",
]
