"""One style on disk: a folder holding ``weights.safetensors``, ``style.json`` and ``thumb.png``.

No pickle anywhere: weights are safetensors, metadata is JSON. Every read is validated
(schema, keys, types, tensor names and shapes against the declared architecture, finite
values) so a damaged or hostile folder becomes one clear :class:`StyleError`, never a
crash deep inside the renderer.

Writes are atomic: :func:`write_style` builds the complete folder in a hidden staging
sibling and swaps it into place with :func:`engine.atomic.atomic_folder`, so a crash or a
``kill -9`` at any moment leaves the old style or the new one, whole. Staging and
set-aside siblings start with a dot: the library skips them and removes (or, for an old
version a kill left set aside, puts back) what a dead writer left when it next opens.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from engine import atomic
from engine.cppn.model import CPPN, CPPNConfig, to_uint8
from engine.errors import StyleError

SCHEMA_VERSION = 1
WEIGHTS = "weights.safetensors"
META = "style.json"
THUMB = "thumb.png"
STYLE_FILES = (META, WEIGHTS, THUMB)
THUMB_SIZE = 256
TEMP_PREFIX = atomic.TEMP_PREFIX
# Temporaries written before engine/atomic.py; still removed when stale.
LEGACY_TEMP_PREFIX = ".tmp-"
MAX_NAME = 120
MAX_META_BYTES = 1 << 20  # style.json is a few KB; anything near this is not ours
# The biggest network CPPNConfig allows (16 x 1024, 64 extras) is ~64 MB of fp32.
MAX_WEIGHTS_BYTES = 80 << 20

KEY_ORDER = ("name", "prompts", "negatives", "image_prompt", "clip", "architecture", "schedule",
             "cutouts", "seed", "score", "created", "schema_version", "trained", "favourite",
             "extra")
REQUIRED_KEYS = ("name", "schema_version", "trained", "architecture")
DEFAULTS: dict = {
    "prompts": [],
    "negatives": [],
    "image_prompt": None,
    "clip": None,
    "schedule": [],
    "cutouts": None,
    "seed": None,
    "score": None,
    "created": None,
    "favourite": False,
    "extra": {},
}


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def clean_name(name, what: str = "style name") -> str:
    """A usable display name: a non-empty single line of reasonable length."""
    if not isinstance(name, str):
        raise StyleError(f"{what} must be text, got {type(name).__name__}")
    name = " ".join(name.split())
    if not name:
        raise StyleError(f"{what} is empty")
    if len(name) > MAX_NAME:
        raise StyleError(f"{what} is too long ({len(name)} characters, at most {MAX_NAME})")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise StyleError(f"{what} contains control characters")
    return name


def _normalise_prompts(value, where: str) -> list[dict]:
    if not isinstance(value, list):
        raise StyleError(f"{where}: 'prompts' must be a list")
    out = []
    for i, p in enumerate(value):
        if isinstance(p, str):
            p = {"text": p, "weight": 1.0}
        if not isinstance(p, dict):
            raise StyleError(f"{where}: prompts[{i}] must be an object with 'text' and 'weight'")
        text, weight = p.get("text"), p.get("weight", 1.0)
        if not isinstance(text, str) or not text.strip():
            raise StyleError(f"{where}: prompts[{i}] has no text")
        if not _is_num(weight):
            raise StyleError(f"{where}: prompts[{i}] weight must be a finite number")
        out.append({**p, "text": text.strip(), "weight": float(weight)})
    return out


def validate_meta(meta, where: str = "style.json", fill: bool = False) -> dict:
    """Check a style.json dict and return a normalised copy (unknown keys preserved).

    ``fill`` also supplies the keys a writer may leave out (created, schema_version,
    defaults); a reader does not get that leniency for the required keys."""
    if not isinstance(meta, dict):
        raise StyleError(f"{where}: expected a JSON object, got {type(meta).__name__}")
    meta = dict(meta)
    if fill:
        meta.setdefault("schema_version", SCHEMA_VERSION)
        meta.setdefault("created", utc_now())
        meta.setdefault("trained", False)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise StyleError(f"{where}: missing key{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(k) for k in missing)}")
    for key, default in DEFAULTS.items():
        if key not in meta:
            meta[key] = default.copy() if isinstance(default, (list, dict)) else default

    sv = meta["schema_version"]
    if not _is_int(sv) or sv < 1:
        raise StyleError(f"{where}: bad schema_version {sv!r}")
    if sv > SCHEMA_VERSION:
        raise StyleError(
            f"{where}: schema version {sv} was written by a newer Sonolume "
            f"(this one reads up to {SCHEMA_VERSION}); please upgrade"
        )
    meta["name"] = clean_name(meta["name"], f"{where}: name")
    meta["prompts"] = _normalise_prompts(meta["prompts"], where)
    neg = meta["negatives"]
    if not isinstance(neg, list) or not all(isinstance(n, str) for n in neg):
        raise StyleError(f"{where}: 'negatives' must be a list of strings")
    meta["negatives"] = [n.strip() for n in neg if n.strip()]
    if meta["image_prompt"] is not None and not isinstance(meta["image_prompt"], str):
        raise StyleError(f"{where}: 'image_prompt' must be a string or null")
    clip = meta["clip"]
    if clip is not None:
        if not isinstance(clip, dict) or not isinstance(clip.get("model"), str):
            raise StyleError(f"{where}: 'clip' must be null or an object with a 'model' name")
        if not isinstance(clip.get("random", False), bool):
            raise StyleError(f"{where}: clip.random must be true or false")
        meta["clip"] = {"pretrained": None, "checkpoint": None, "random": False,
                        "label": None, **clip}
    arch = meta["architecture"]
    if not isinstance(arch, dict):
        raise StyleError(f"{where}: 'architecture' must be an object")
    try:
        meta["architecture"] = CPPNConfig.from_json(arch).to_json()
    except (TypeError, ValueError) as exc:
        raise StyleError(f"{where}: bad architecture: {exc}") from exc
    sched = meta["schedule"]
    if not isinstance(sched, list) or not all(
        isinstance(s, (list, tuple)) and len(s) == 2 and all(_is_int(v) and v > 0 for v in s)
        for s in sched
    ):
        raise StyleError(f"{where}: 'schedule' must be a list of [iterations, resolution] pairs")
    meta["schedule"] = [list(s) for s in sched]
    for key in ("cutouts", "seed"):
        if meta[key] is not None and not _is_int(meta[key]):
            raise StyleError(f"{where}: '{key}' must be an integer or null")
    if meta["score"] is not None:
        if not _is_num(meta["score"]):
            raise StyleError(f"{where}: 'score' must be a finite number or null")
        meta["score"] = float(meta["score"])
    created = meta["created"]
    if created is not None:
        if not isinstance(created, str):
            raise StyleError(f"{where}: 'created' must be an ISO 8601 date string")
        try:
            datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError as exc:
            raise StyleError(f"{where}: 'created' is not an ISO 8601 date: {created!r}") from exc
    for key in ("trained", "favourite"):
        if not isinstance(meta[key], bool):
            raise StyleError(f"{where}: '{key}' must be true or false")
    if not isinstance(meta["extra"], dict):
        raise StyleError(f"{where}: 'extra' must be an object")
    ordered = {k: meta[k] for k in KEY_ORDER if k in meta}
    ordered.update((k, v) for k, v in meta.items() if k not in ordered)  # unknown keys kept
    return ordered


def expected_shapes(config: CPPNConfig) -> dict[str, tuple[int, ...]]:
    shapes = {}
    dims = [config.in_features] + [config.hidden] * config.layers
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        shapes[f"hidden.{i}.weight"] = (b, a)
        shapes[f"hidden.{i}.bias"] = (b,)
    shapes["out.weight"] = (3, config.hidden)
    shapes["out.bias"] = (3,)
    return shapes


def check_tensors(tensors: dict, config: CPPNConfig, where: str) -> None:
    want = expected_shapes(config)
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing:
        raise StyleError(f"{where}: missing tensors {', '.join(missing[:4])}"
                         f"{' ...' if len(missing) > 4 else ''} for a "
                         f"{config.layers}x{config.hidden} CPPN")
    if extra:
        raise StyleError(f"{where}: unexpected tensors {', '.join(extra[:4])}"
                         f"{' ...' if len(extra) > 4 else ''}")
    for name, shape in want.items():
        t = tensors[name]
        if tuple(t.shape) != shape:
            raise StyleError(f"{where}: tensor {name} has shape {tuple(t.shape)}, "
                             f"the architecture needs {shape}")
        if not t.is_floating_point():
            raise StyleError(f"{where}: tensor {name} is {t.dtype}, expected floating point")
        if not torch.isfinite(t).all():
            raise StyleError(f"{where}: tensor {name} contains NaN or infinite values")


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    size = path.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise StyleError(f"{path}: weights file is too large ({size >> 20} MB)")
    try:
        return load(path.read_bytes())
    except Exception as exc:  # safetensors raises its own error types for bad bytes
        raise StyleError(f"{path}: not a valid safetensors file ({exc})") from exc


@dataclass
class Style:
    """A validated style folder. ``meta`` is the parsed style.json."""

    path: Path
    meta: dict
    readonly: bool = False

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def trained(self) -> bool:
        return bool(self.meta.get("trained"))

    @property
    def favourite(self) -> bool:
        return bool(self.meta.get("favourite"))

    @property
    def clip_random(self) -> bool:
        clip = self.meta.get("clip")
        return bool(clip and clip.get("random"))

    @property
    def prompts(self) -> list[dict]:
        return list(self.meta.get("prompts") or [])

    @property
    def config(self) -> CPPNConfig:
        return CPPNConfig.from_json(self.meta["architecture"])

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    @property
    def thumb_path(self) -> Path | None:
        p = self.path / THUMB
        return p if p.is_file() else None

    @property
    def clip_label(self) -> str:
        """How to name the CLIP that judged this style, never hiding a random one."""
        clip = self.meta.get("clip")
        if not clip:
            return "none (untrained)" if not self.trained else "unknown"
        label = clip.get("label") or clip.get("model") or "?"
        if clip.get("pretrained") and not clip.get("label"):
            label = f"{clip['model']}/{clip['pretrained']}"
        if clip.get("random") and "random" not in label.lower():
            label += " (random CLIP)"
        return label

    @property
    def kind(self) -> str:
        if not self.trained:
            return "seeded pattern (untrained)"
        if self.clip_random:
            return "trained with a RANDOM CLIP (testing only)"
        return "trained"

    def load_cppn(self) -> CPPN:
        """A CPPN with this style's weights (validated against the architecture)."""
        config = self.config
        tensors = _load_tensors(self.weights_path)
        check_tensors(tensors, config, str(self.weights_path))
        cppn = CPPN(config)
        cppn.load_state_dict({k: v.float() for k, v in tensors.items()})
        return cppn.eval()

    def summary(self) -> dict:
        """The metadata plus where it lives, for JSON output and the gallery."""
        return {"id": self.id, **self.meta, "path": str(self.path),
                "readonly": self.readonly, "clip_label": self.clip_label}


def read_style(folder, readonly: bool = False) -> Style:
    folder = Path(folder)
    if not folder.is_dir():
        raise StyleError(f"style folder not found: {folder}")
    meta_path, weights_path = folder / META, folder / WEIGHTS
    for p in (meta_path, weights_path):
        if p.is_symlink():
            raise StyleError(f"{p}: symbolic links are not allowed in a style")
        if not p.is_file():
            raise StyleError(f"{folder.name}: missing {p.name}")
    if meta_path.stat().st_size > MAX_META_BYTES:
        raise StyleError(f"{meta_path}: style.json is too large")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise StyleError(f"{meta_path}: not UTF-8 text") from exc
    except ValueError as exc:
        raise StyleError(f"{meta_path}: bad JSON ({exc})") from exc
    except OSError as exc:
        raise StyleError(f"{meta_path}: cannot read ({exc.strerror or exc})") from exc
    meta = validate_meta(meta, str(meta_path))
    tensors = _load_tensors(weights_path)
    check_tensors(tensors, CPPNConfig.from_json(meta["architecture"]), str(weights_path))
    return Style(path=folder, meta=meta, readonly=readonly)


def render_thumb(cppn: CPPN, size: int = THUMB_SIZE) -> np.ndarray:
    return to_uint8(cppn.render(size, size))


def _as_uint8_image(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.ndim == 3 and image.shape[0] == 3:
            image = to_uint8(image)
        image = np.asarray(image)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise StyleError(f"thumbnail must be an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    return arr


def encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_as_uint8_image(image), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _write_file(path: Path, data: bytes) -> None:
    # Not flushed here: atomic_folder flushes the whole staging folder before the swap.
    with open(path, "wb") as fh:
        fh.write(data)


def write_json_atomic(path: Path, data: dict) -> None:
    """Replace a JSON file so readers see the old or the new one, never half; a failure is
    a StyleError, the one error the library's callers handle."""
    try:
        atomic.write_json(path, data)
    except OSError as exc:
        raise StyleError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # NaN or infinity: not JSON
        raise StyleError(f"cannot write {path}: {exc}") from exc


def write_style(folder, cppn: CPPN, meta: dict, thumb: np.ndarray | None = None,
                overwrite: bool = False) -> Style:
    """Save ``cppn`` with ``meta`` as a complete style folder, atomically.

    ``meta["architecture"]`` is taken from the network itself; missing optional keys get
    defaults and ``created``/``schema_version`` are filled in. Without a ``thumb`` a
    256x256 one is rendered. ``overwrite`` replaces an existing folder: readers see the
    old version until the new one is complete, and a failure puts the old one back."""
    folder = Path(folder)
    meta = dict(meta or {})
    meta["architecture"] = cppn.config.to_json()
    meta = validate_meta(meta, "style metadata", fill=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous().clone()
             for k, v in cppn.state_dict().items()}
    check_tensors(state, cppn.config, f"style '{meta['name']}'")
    if folder.exists() and not overwrite:
        raise StyleError(f"a style already exists at {folder}")

    from safetensors.torch import save

    thumb_png = encode_png(render_thumb(cppn) if thumb is None else thumb)
    # one metadata key only: safetensors writes its metadata map in random order
    weights = save(state, metadata={"format": "pt"})
    meta_bytes = (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode()

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # atomic_folder flushes every file before the swap and the folder after it.
        with atomic.atomic_folder(folder, overwrite=overwrite) as staging:
            _write_file(staging / WEIGHTS, weights)
            _write_file(staging / THUMB, thumb_png)
            _write_file(staging / META, meta_bytes)
    except FileExistsError as exc:  # appeared since the check above
        raise StyleError(f"a style already exists at {folder}") from exc
    except OSError as exc:
        raise StyleError(f"cannot write style to {folder}: {exc.strerror or exc}") from exc
    return Style(path=folder, meta=meta, readonly=False)
