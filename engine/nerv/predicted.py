"""Predicted spatial maps from a NeRV-CLIP run's spatial head, on the run's own grid.

It lives with the runs, not in ``engine.spatial``: spatial maps know nothing of NeRV, and
NeRV builds on them.

A run predicts one embedding per patch of the grid it was trained on, for frames decoded
at its training size. To compare like with like, the measured ("true") map is made from
the same decoded frame, on the same grid, with the same CLIP the run was trained against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import SonolumeError
from engine.spatial.grid import PatchGrid
from engine.spatial.maps import SpatialMap


@dataclass
class RunFrame:
    """One frame of a NeRV-CLIP run: the frame as trained on, its predicted map, and the
    CLIP the run was trained against (a ClipSpec, or None when the run stored none)."""

    image: np.ndarray  # uint8 (H, W, 3) at the run's frame size
    predicted: SpatialMap
    clip_spec: object | None
    clip_label: str | None
    frame: int
    run_dir: str


def load_run_frame(run_dir: str | Path, frame: int, video: str | Path | None = None) -> RunFrame:
    """Open ``run_dir`` and predict frame ``frame``'s spatial map. ``video`` points at the
    run's video when it moved (it is checked against the run's hash)."""
    from engine.clip.spec import ClipSpec
    from engine.nerv.run import NervRun

    run = NervRun.open(run_dir, video=str(video) if video else None)
    emb, grid_hw, frame_size = run.spatial_map(int(frame))  # = predict_spatial_map
    grid: PatchGrid | None = run.grid
    if grid is None or tuple(grid_hw) != grid.shape or tuple(frame_size) != (grid.height,
                                                                             grid.width):
        raise SonolumeError(f"{run_dir}: the predicted map ({grid_hw}, frame {frame_size}) "
                            "does not match the run's patch grid")
    clip_info = run.info.get("clip") or {}
    spec = ClipSpec(**clip_info["spec"]) if clip_info.get("spec") else None
    pred = SpatialMap(np.asarray(emb, dtype=np.float32), grid,
                      clip_info.get("label") or "unknown CLIP", bool(clip_info.get("random")),
                      "predicted", {"run": str(run_dir), "checkpoint": run.checkpoint,
                                    "frame": int(frame), "role": run.role(int(frame))})
    return RunFrame(run.original(int(frame)), pred, spec, clip_info.get("label"), int(frame),
                    str(run_dir))
