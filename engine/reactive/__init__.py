"""Reactivity: audio features -> per-frame render parameters (extras, zoom, rotation, ...).

Typical use::

    from engine.reactive import compute_params
    track = compute_params(features, "punchy", extra_inputs=cppn.config.extra_inputs)
    params = track.at(t)          # FrameParams for the renderer, any time t

Only :mod:`engine.reactive.params` is imported with the package: renderers need
``FrameParams`` and nothing else, so importing it must not pull in the mapping (and the
audio DSP behind it) or the preset files. The rest loads on first use.
"""

import importlib

from engine.reactive.params import FrameParams, ParamTrack, color_matrix

_LAZY = {
    "compute_params": "mapping", "latent_walk": "mapping", "smooth": "mapping",
    "DEFAULT_PRESET": "preset", "Mapping": "preset", "Preset": "preset",
    "PresetError": "preset", "list_presets": "preset", "load_preset": "preset",
    "preset_from_json": "preset", "read_preset": "preset", "save_preset": "preset",
    "user_preset_dir": "preset",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.reactive' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"engine.reactive.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "DEFAULT_PRESET", "FrameParams", "Mapping", "ParamTrack", "Preset", "PresetError",
    "color_matrix", "compute_params", "latent_walk", "list_presets", "load_preset",
    "preset_from_json", "read_preset", "save_preset", "smooth", "user_preset_dir",
]
