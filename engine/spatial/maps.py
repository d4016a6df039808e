"""Spatial CLIP maps: one CLIP image embedding per patch of a :class:`PatchGrid`.

Each patch is cut from the RGB frame and resized to CLIP's input square by
``ClipModel.encode_image`` (bilinear, anti-aliased), in batches. Maps are cached on disk
as ``.npz`` (read with ``allow_pickle=False``) under ``$SONOLUME_CACHE_DIR/spatial`` (else the
platform's user cache folder), named by a hash of the picture's pixels, the CLIP identity
(label, spec, and the config file's bytes for a random test CLIP) and the grid.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.atomic import atomic_path, remove_stale_temporaries
from engine.errors import Cancelled
from engine.spatial.grid import PatchGrid, make_grid
from engine.spatial.pictures import (  # noqa: F401  (pictures were read here; callers import)
    MAX_DECODE_SIDE,
    MAX_PIXELS,
    MAX_SIDE,
    VIDEO_SUFFIXES,
    NotAnImage,
    NoVideoStream,
    PictureTooLarge,
    fit_size,
    load_image,
    load_picture,
    read_image,
    read_video_frame,
    video_error,
)

CACHE_VERSION = 1


@dataclass
class SpatialMap:
    """Unit-norm patch embeddings (P, D) float32 on ``grid`` (row-major)."""

    embeddings: np.ndarray
    grid: PatchGrid
    clip_label: str
    random_clip: bool = False
    source: str = "clip"  # "clip" (measured) or "predicted" (a NeRV-CLIP head)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        e = np.asarray(self.embeddings, dtype=np.float32)
        if e.ndim != 2 or e.shape[0] != self.grid.count:
            raise ValueError(f"map of shape {e.shape} does not fit a {self.grid.rows}x"
                             f"{self.grid.cols} grid")
        norm = np.linalg.norm(e, axis=1, keepdims=True)
        self.embeddings = e / np.maximum(norm, 1e-12)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def cells(self) -> np.ndarray:
        """Embeddings as (rows, cols, D)."""
        return self.embeddings.reshape(self.grid.rows, self.grid.cols, -1)


# -- pictures as tensors ---------------------------------------------------------------------

def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 1]."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(np.asarray(img, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0


def crop_patches(image: np.ndarray | torch.Tensor, grid: PatchGrid) -> torch.Tensor:
    """The grid's patches as float (P, 3, patch, patch) in [0, 1] (not yet resized)."""
    x = image if isinstance(image, torch.Tensor) else to_tensor(image)
    if x.dim() == 3:
        x = x[None]
    if tuple(x.shape[-2:]) != (grid.height, grid.width):
        raise ValueError(f"image is {x.shape[-1]}x{x.shape[-2]}, grid was made for "
                         f"{grid.width}x{grid.height}")
    return torch.cat([x[:, :, y0:y1, x0:x1] for x0, y0, x1, y1 in grid.boxes()])


# -- cache ------------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    from engine.paths import cache_dir

    return cache_dir("spatial")


def clip_identity(clip) -> dict:
    """What about a loaded CLIP changes its embeddings."""
    return clip.spec.cache_identity() | {"label": clip.label, "image_size": clip.image_size}


def image_hash(image: np.ndarray) -> str:
    img = np.ascontiguousarray(image)
    h = hashlib.sha256(str(img.shape).encode() + str(img.dtype).encode())
    h.update(img.tobytes())
    return h.hexdigest()


def cache_key(image: np.ndarray, clip, grid: PatchGrid) -> str:
    data = {"v": CACHE_VERSION, "image": image_hash(image), "clip": clip_identity(clip),
            "grid": grid.params()}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.npz"


def _read_cache(path: Path, grid: PatchGrid) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            emb = np.asarray(data["embeddings"], dtype=np.float32)
            boxes = np.asarray(data["boxes"])
    except (OSError, KeyError, ValueError):
        return None
    if emb.ndim != 2 or emb.shape[0] != grid.count or not np.array_equal(
            boxes, np.asarray(grid.boxes(), dtype=np.int32)):
        return None
    return emb


def _write_cache(path: Path, emb: np.ndarray, grid: PatchGrid) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)  # what a killed run left half-written
        with atomic_path(path, suffix=".npz") as tmp:  # np.savez adds .npz to other names
            np.savez(tmp, embeddings=emb.astype(np.float32),
                     boxes=np.asarray(grid.boxes(), dtype=np.int32))
    except OSError:
        pass  # a cache that cannot be written only costs time


# -- embedding --------------------------------------------------------------------------------

@torch.no_grad()
def embed_patches(
    clip,
    image: np.ndarray,
    grid: PatchGrid,
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
    cancel=None,
) -> np.ndarray:
    """Unit-norm CLIP embeddings (P, D) float32 of the grid's patches (no cache). Crops
    are cut from the uint8 picture and converted one batch at a time (a big picture is
    never held as float), then go to the device the CLIP's weights are on.
    ``on_progress(done, total)`` is called after each batch; ``cancel`` (anything with
    ``is_set()``) is checked before each batch and raises :class:`Cancelled`."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[:2] != (grid.height, grid.width):
        raise ValueError(f"image of shape {img.shape} does not fit the grid "
                         f"({grid.width}x{grid.height})")
    params = getattr(getattr(clip, "model", None), "parameters", None)
    device = next(iter(params()), torch.empty(0)).device if params else torch.device("cpu")
    boxes = grid.boxes()
    out = []
    for start in range(0, len(boxes), batch_size):
        if cancel is not None and cancel.is_set():
            raise Cancelled("spatial map stopped")
        part = boxes[start:start + batch_size]
        crops = torch.cat([to_tensor(img[y0:y1, x0:x1]) for x0, y0, x1, y1 in part])
        crops = crops.to(device)
        out.append(clip.encode_image(crops).cpu())
        if on_progress:
            on_progress(min(start + batch_size, len(boxes)), len(boxes))
    return torch.cat(out).numpy().astype(np.float32)


def compute_map(
    clip,
    image: np.ndarray,
    grid: PatchGrid | None = None,
    *,
    patch: int | None = None,
    stride: int | None = None,
    cache: bool | str | Path = True,
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
    cancel=None,
) -> SpatialMap:
    """The spatial CLIP map of ``image`` (uint8 RGB, H x W x 3).

    ``grid`` defaults to :func:`make_grid` (scaled rule, or ``patch``/``stride``).
    ``cache``: True for the default folder, a folder path, or False for none."""
    image = np.asarray(image)
    if grid is None:
        grid = make_grid(image.shape[1], image.shape[0], patch=patch, stride=stride)
    path = None
    if cache:
        folder = default_cache_dir() if cache is True else Path(cache)
        path = _cache_path(folder, cache_key(image, clip, grid))
        emb = _read_cache(path, grid) if path.is_file() else None
        if emb is not None:
            return SpatialMap(emb, grid, clip.label, bool(clip.random), "clip",
                              {"cached": True})
    emb = embed_patches(clip, image, grid, batch_size=batch_size, on_progress=on_progress,
                        cancel=cancel)
    if path is not None:
        _write_cache(path, emb, grid)
    return SpatialMap(emb, grid, clip.label, bool(clip.random), "clip", {"cached": False})
