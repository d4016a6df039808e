"""Reactivity presets: which audio feature drives which visual quantity, how hard, how smooth.

A preset is a small JSON file. Built-in presets ship in ``engine/reactive/presets``; a user's
own live in ``<user library>/reactivity/*.json`` next to the styles and win over built-ins
of the same name. Example (every target is optional; a missing one is off)::

    {
      "name": "punchy",
      "description": "Hard beat pulses, bass zoom, quick colour flicks.",
      "targets": {
        "drift":      {"source": "harmonic", "strength": 0.6, "base": 0.08, "range": 0.5,
                       "smoothing": 0.5},
        "pulse":      {"source": {"beat_pulse": 0.7, "percussive": 0.3}, "strength": 0.45,
                       "smoothing": 0.02},
        "zoom":       {"source": "bass", "center": 1.0, "strength": 0.08, "smoothing": 0.06},
        "rotation":   {"source": "rms", "mode": "speed", "base": 0.02, "strength": 0.3},
        ...
      }
    }

Each target maps ``v = base + strength * (smooth(source * scale_by) - center)``, where
``source`` is one feature name or a weighted sum of several, the optional ``scale_by`` is a
feature that gates it (beats times loudness: a beat in a quiet passage kicks less), and
``smooth`` is a causal one-pole filter with time constant ``smoothing`` seconds.
``mode: "speed"`` integrates ``v`` over time (a rate per second) instead of using it as a
level. What ``v`` means per target:

============  =====================================================================
drift         speed of the seeded latent walk through the extra inputs (walk units/s,
              always a speed); ``range`` is the walk's per-input amplitude
pulse         offset of the extra inputs along a seeded direction (per-input RMS units)
tone          ``source`` must be ``"chroma"``: the 12 pitch classes, centred, projected
              onto the extra inputs by a seeded matrix, times ``strength``
zoom          ``exp(v)`` (1.0 = as trained)
rotation      radians (``speed``: radians per second)
hue           turns of the colour wheel (``speed``: turns per second)
brightness    ``1 + v``
warp          amplitude of a sine warp of the coordinates (``max(v, 0)``); its phase
              follows the drift walk
============  =====================================================================
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine import atomic, paths
from engine.errors import SonolumeError

SCALAR_FEATURES = (
    "rms", "onset", "beat_phase", "beat_pulse", "harmonic", "percussive",
    "bass", "mid", "treble", "centroid",
)
VECTOR_FEATURES = ("chroma",)
TARGETS = ("drift", "pulse", "tone", "zoom", "rotation", "hue", "brightness", "warp")
MODES = ("level", "speed")
MAPPING_KEYS = ("source", "scale_by", "strength", "smoothing", "base", "center", "mode",
                "range")
BUILTIN_DIR = Path(__file__).parent / "presets"
USER_SUBDIR = paths.PRESETS_SUBDIR
DEFAULT_PRESET = "punchy"
MAX_PRESET_BYTES = 64 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


class PresetError(SonolumeError):
    """A reactivity preset is missing or malformed."""


@dataclass(frozen=True)
class Mapping:
    source: dict[str, float]  # feature name -> weight
    strength: float = 1.0
    smoothing: float = 0.0  # seconds
    base: float = 0.0
    center: float = 0.0
    mode: str = "level"
    range: float = 0.5  # drift only
    scale_by: str | None = None  # a feature multiplying the source (e.g. beats x loudness)

    def to_json(self) -> dict:
        src = self.source
        out: dict = {"source": next(iter(src)) if len(src) == 1 and
                     next(iter(src.values())) == 1.0 else dict(src)}
        if self.scale_by:
            out["scale_by"] = self.scale_by
        for key in ("strength", "smoothing", "base", "center", "mode", "range"):
            out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class Preset:
    name: str
    targets: dict[str, Mapping] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None  # where it was read from (None: built in memory)

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description,
                "targets": {k: m.to_json() for k, m in self.targets.items()}}


def _number(value, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PresetError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise PresetError(f"{what} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def _mapping(target: str, data, where: str) -> Mapping:
    what = f"{where}: target '{target}'"
    if not isinstance(data, dict):
        raise PresetError(f"{what} must be an object")
    unknown = set(data) - set(MAPPING_KEYS)
    if unknown:
        raise PresetError(f"{what} has unknown keys: {', '.join(sorted(unknown))}")
    if "source" not in data:
        raise PresetError(f"{what} needs a 'source' feature")
    src = data["source"]
    if isinstance(src, str):
        src = {src: 1.0}
    if not isinstance(src, dict) or not src:
        raise PresetError(f"{what}: source must be a feature name or {{name: weight}}")
    allowed = VECTOR_FEATURES if target == "tone" else SCALAR_FEATURES
    source = {}
    for name, weight in src.items():
        if name not in allowed:
            raise PresetError(f"{what}: unknown source '{name}' "
                              f"(use one of: {', '.join(allowed)})")
        source[name] = _number(weight, f"{what}: weight of '{name}'", -100, 100)
    scale_by = data.get("scale_by")
    if scale_by is not None and scale_by not in SCALAR_FEATURES:
        raise PresetError(f"{what}: scale_by must be one of: {', '.join(SCALAR_FEATURES)}")
    mode = data.get("mode", "speed" if target == "drift" else "level")
    if mode not in MODES:
        raise PresetError(f"{what}: mode must be 'level' or 'speed', got {mode!r}")
    if target in ("drift",) and mode != "speed":
        raise PresetError(f"{what}: drift is always a speed")
    if target in ("pulse", "tone", "zoom", "brightness", "warp") and mode != "level":
        raise PresetError(f"{what}: {target} is always a level")
    return Mapping(
        source=source,
        strength=_number(data.get("strength", 1.0), f"{what}: strength", -100, 100),
        smoothing=_number(data.get("smoothing", 0.0), f"{what}: smoothing", 0, 60),
        base=_number(data.get("base", 0.0), f"{what}: base", -100, 100),
        center=_number(data.get("center", 0.0), f"{what}: center", -100, 100),
        mode=mode,
        range=_number(data.get("range", 0.5), f"{what}: range", 0, 10),
        scale_by=scale_by,
    )


def preset_from_json(data, where: str = "preset", path: Path | None = None) -> Preset:
    if not isinstance(data, dict):
        raise PresetError(f"{where} must be a JSON object")
    unknown = set(data) - {"name", "description", "targets", "version"}
    if unknown:
        raise PresetError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise PresetError(f"{where}: 'name' must be 1-64 letters, digits, space, _ . -")
    desc = data.get("description", "")
    if not isinstance(desc, str):
        raise PresetError(f"{where}: 'description' must be text")
    targets = data.get("targets", {})
    if not isinstance(targets, dict):
        raise PresetError(f"{where}: 'targets' must be an object")
    bad = set(targets) - set(TARGETS)
    if bad:
        raise PresetError(f"{where}: unknown targets {', '.join(sorted(bad))} "
                          f"(use: {', '.join(TARGETS)})")
    mappings = {t: _mapping(t, targets[t], where) for t in TARGETS if t in targets}
    return Preset(name=name, targets=mappings, description=desc, path=path)


def read_preset(path) -> Preset:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_PRESET_BYTES:
            raise PresetError(f"{path} is too large to be a reactivity preset")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PresetError(f"reactivity preset not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(f"cannot read reactivity preset {path}: {exc}") from exc
    return preset_from_json(data, where=str(path), path=path)


def user_preset_dir(library_dir=None) -> Path:
    """``<library>/reactivity``: presets travel with the library whose styles they suit."""
    return paths.presets_dir(library_dir)


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.json")) if not p.name.startswith(".")}


def list_presets(library_dir=None) -> list[str]:
    """Names of all presets: built-ins, then the user's (a user preset shadows a built-in)."""
    names = list(_files(BUILTIN_DIR))
    names += [n for n in _files(user_preset_dir(library_dir)) if n not in names]
    return names


def load_preset(name_or_path, library_dir=None) -> Preset:
    """A preset by name (user library first, then built-in), or from a .json path."""
    if isinstance(name_or_path, Preset):
        return name_or_path
    text = str(name_or_path)
    if text.endswith(".json") or os.sep in text or "/" in text:
        return read_preset(text)
    for folder in (user_preset_dir(library_dir), BUILTIN_DIR):
        path = _files(folder).get(text)
        if path is not None:
            return read_preset(path)
    raise PresetError(f"unknown reactivity preset '{text}' "
                      f"(available: {', '.join(list_presets(library_dir))})")


def save_preset(preset: Preset, library_dir=None) -> Path:
    """Write a user preset atomically as ``<library>/reactivity/<name>.json``."""
    preset_from_json(preset.to_json(), where=f"preset '{preset.name}'")  # validate
    folder = user_preset_dir(library_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{preset.name}.json"
        atomic.write_text(path, json.dumps(preset.to_json(), indent=2) + "\n")
    except OSError as exc:
        raise PresetError(f"cannot save reactivity preset in {folder}: {exc}") from exc
    return path
