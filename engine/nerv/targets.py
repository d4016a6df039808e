"""Ground-truth CLIP targets for a video, computed once and cached.

* global: one unit embedding per frame, of the whole frame resized to CLIP's input square
  (the frame is squashed, not cropped, so every pixel counts);
* spatial: one unit embedding per patch of the CLIP patch grid (engine.spatial.grid:
  overlapping square patches, 448 px at stride 224 on full-size frames, scaled with the
  frame), each patch resized to CLIP's input.

The cache is an ``.npz`` (loaded with ``allow_pickle=False``) named by a hash of what
determines the numbers: the video file's SHA-256, the frame size and selection, the CLIP
(label, spec and, for a random test config, the config file's bytes) and the grid.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.atomic import atomic_path, remove_stale_temporaries
from engine.errors import Cancelled
from engine.spatial.grid import PatchGrid, make_grid

TARGETS_VERSION = 1


def patch_grid(frame_size: tuple[int, int], patch: int | None = None,
               stride: int | None = None) -> PatchGrid:
    """The project's CLIP patch grid for a frame of (H, W) pixels (engine.spatial.grid's
    rule: 448 px patches at stride 224 on full-size frames, scaled for smaller ones)."""
    h, w = frame_size
    return make_grid(w, h, patch, stride)


def grid_from_json(data: dict) -> PatchGrid:
    return make_grid(data["width"], data["height"], data["patch"], data["stride"],
                     data.get("edge", "align"))


def normalised_boxes(grid: PatchGrid) -> torch.Tensor:
    """(P, 4) boxes x0, y0, x1, y1 as fractions of the frame."""
    b = torch.tensor(grid.boxes(), dtype=torch.float32)
    return b / torch.tensor([grid.width, grid.height, grid.width, grid.height],
                            dtype=torch.float32)


def clip_cache_identity(clip_spec) -> dict:
    """What about a CLIP choice changes its embeddings (without loading it)."""
    return clip_spec.cache_identity()


def cache_key(video_sha: str, frames_info: dict, clip_ident: dict, grid: PatchGrid | None,
              spatial: bool) -> str:
    data = {
        "v": TARGETS_VERSION,
        "video": video_sha,
        "frames": frames_info,
        "clip": clip_ident,
        "grid": grid.params() if (grid is not None and spatial) else None,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def default_cache_dir() -> Path:
    from engine.paths import cache_dir

    return cache_dir("nerv-targets")


def _to_float(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def compute_targets(
    frames: np.ndarray,
    clip,
    grid: PatchGrid | None = None,
    batch: int = 16,
    on_progress: Callable[[int, int], None] | None = None,
    cancel=None,
) -> dict[str, np.ndarray]:
    """CLIP embeddings of uint8 frames (N, H, W, 3): ``global`` (N, D) and, with a grid,
    ``spatial`` (N, P, D); float32, unit norm. ``cancel.is_set()`` stops between batches
    (raises Cancelled; nothing is cached)."""
    n = len(frames)
    size = clip.image_size
    glob, spat = [], []
    total = n * (1 + (grid.count if grid is not None else 0))
    done = 0
    for start in range(0, n, batch):
        if cancel is not None and cancel.is_set():
            raise Cancelled("stopped while computing CLIP targets (nothing was cached)")
        x = _to_float(frames[start:start + batch]).to(getattr(clip, "device", "cpu"))
        glob.append(clip.encode_image(x).cpu())
        done += len(x)
        if grid is not None:
            crops = []
            for x0, y0, x1, y1 in grid.boxes():
                crop = x[:, :, y0:y1, x0:x1]
                crops.append(F.interpolate(crop, size=(size, size), mode="bilinear",
                                           align_corners=False,
                                           antialias=crop.shape[-1] > size))
            crops = torch.stack(crops, dim=1).reshape(-1, 3, size, size)  # (b*P, 3, s, s)
            emb = torch.cat([clip.encode_image(c, resize=False)
                             for c in crops.split(batch * 4)]).cpu()
            spat.append(emb.reshape(len(x), grid.count, -1))
            done += len(x) * grid.count
        if on_progress:
            on_progress(done, total)
    out = {"global": torch.cat(glob).numpy().astype(np.float32)}
    if grid is not None:
        out["spatial"] = torch.cat(spat).numpy().astype(np.float32)
    return out


def load_or_compute(
    cache_dir: Path | None,
    key: str,
    frames: np.ndarray,
    get_clip: Callable[[], object],
    grid: PatchGrid | None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel=None,
) -> tuple[dict[str, np.ndarray], bool]:
    """Targets from ``cache_dir/key.npz`` or freshly computed (and stored). Returns
    (targets, from_cache). A damaged cache file is recomputed, not trusted."""
    path = Path(cache_dir) / f"{key}.npz" if cache_dir else None
    want = {"global"} | ({"spatial"} if grid is not None else set())
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                got = {k: np.array(data[k]) for k in want}
            if all(v.shape[0] == len(frames) for v in got.values()):
                return got, True
        except (OSError, ValueError, KeyError):
            pass
    targets = compute_targets(frames, get_clip(), grid, on_progress=on_progress, cancel=cancel)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)  # what a killed run left half-written
        with atomic_path(path, suffix=".npz") as tmp:  # np.savez adds .npz to other names
            np.savez(tmp, **targets)
    return targets, False
