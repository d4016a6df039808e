"""The spatial inspector's long work, run on worker threads (see :mod:`app.workers`):
getting a picture from a source and embedding its patches with CLIP. No Qt here; each
function takes ``progress`` and ``cancel`` like every worker function.

Progress messages are tuples: ``("status", text)`` or ``("patches", done, total)``.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import SonolumeError

log = logging.getLogger("sonolume.app.spatial")

IMAGE_FILTER = ("Images and videos (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff *.gif "
                "*.mp4 *.mov *.mkv *.webm *.avi *.m4v);;All files (*)")
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm *.avi *.m4v *.mpg *.mpeg);;All files (*)"


def cache_dir() -> Path:
    """Where patch maps are cached: the engine's shared cache folder."""
    from engine.spatial.maps import default_cache_dir

    return default_cache_dir()


@dataclass
class Source:
    """A picture to inspect and where it came from."""

    image: np.ndarray  # uint8 (H, W, 3)
    kind: str  # image, video, style, run
    name: str  # short, for titles and file names
    describe: str  # one line for the title bar
    info: dict = field(default_factory=dict)
    predicted: object | None = None  # SpatialMap from a run's spatial head
    clip_spec: object | None = None  # the CLIP a run was trained against
    frame_count: int = 0


@dataclass
class MapResult:
    map: object  # SpatialMap
    text_emb: np.ndarray | None
    queries: list[str]
    clip_label: str
    random: bool


def load_file(path: str, frame: int | None = None, *, progress, cancel) -> Source:
    """An image, or frame ``frame`` of a video."""
    from engine.spatial.maps import load_picture

    progress(("status", f"reading {Path(path).name}…"))
    image, info = load_picture(path, frame)
    p = Path(path)
    if info["kind"] == "video":
        return Source(image, "video", f"{p.stem}-f{info['frame']}",
                      f"{p.name} frame {info['frame']}", info)
    return Source(image, "image", p.stem, p.name, info)


def render_style(library, key: str, size: int, *, progress, cancel) -> Source:
    """A still of a library style at ``size`` x ``size``."""
    from engine.cppn.model import to_uint8
    from engine.runtime import tune_allocator

    style = library.get(key)
    progress(("status", f"rendering '{style.name}' at {size}x{size}…"))
    tune_allocator()
    cppn = style.load_cppn()
    image = to_uint8(cppn.render(size, size))
    return Source(image, "style", style.id, f"style '{style.name}' still",
                  {"kind": "style", "style": style.id, "name": style.name, "size": size})


def load_run(run_dir: str, frame: int, *, progress, cancel) -> Source:
    """Frame ``frame`` of a NeRV-CLIP run as trained on, with its predicted map."""
    from engine.nerv.predicted import load_run_frame
    from engine.nerv.run import RUN_JSON

    progress(("status", f"opening run {Path(run_dir).name}…"))
    rf = load_run_frame(run_dir, frame)
    try:
        count = int(json.loads((Path(run_dir) / RUN_JSON).read_text())["frames"]["count"])
    except (OSError, ValueError, KeyError, TypeError):
        count = 0
    role = rf.predicted.info.get("role")
    name = Path(run_dir).name
    return Source(rf.image, "run", f"{name}-f{frame}",
                  f"run {name}, frame {frame}" + (f" ({role})" if role else ""),
                  {"kind": "nerv-run", "run": str(run_dir), "frame": frame, "role": role},
                  predicted=rf.predicted, clip_spec=rf.clip_spec, frame_count=count)


class ClipPool:
    """CLIPs for maps: the app's shared one (ClipService) for the Settings' spec, and one
    private CLIP for a run trained against another spec, so inspecting a run never swaps
    the CLIP the rest of the app uses."""

    def __init__(self, clip_service):
        self.service = clip_service
        self._lock = threading.Lock()
        self._private: tuple[object, object] | None = None

    def get(self, spec, shared: bool):
        if shared:
            return self.service.get(spec)
        with self._lock:
            if self._private is not None and self._private[0] == spec:
                return self._private[1]
            from engine.clip.loader import load_clip

            clip = load_clip(spec, warn=log.warning)
            self._private = (spec, clip)
            return clip


def compute(pool: ClipPool, spec, shared: bool, image, grid, queries: list[str],
            existing=None, batch_size: int = 32, *, progress, cancel) -> MapResult | None:
    """The patch map of ``image`` on ``grid`` (``existing`` when it is still valid) and the
    text embeddings of ``queries``."""
    from engine.spatial.maps import compute_map

    progress(("status", f"loading CLIP {spec.label}…"))
    clip = pool.get(spec, shared)
    if cancel.is_set():
        return None
    smap = existing
    if smap is None:
        progress(("status", f"embedding {grid.count} patches with CLIP…"))
        progress(("patches", 0, grid.count))
        smap = compute_map(clip, image, grid, cache=cache_dir(), batch_size=batch_size,
                           on_progress=lambda done, total: progress(("patches", done, total)),
                           cancel=cancel)
    text = None
    if queries:
        progress(("status", "embedding the queries…"))
        text = clip.encode_text(list(queries)).cpu().numpy()
    if smap.embeddings.shape[1] != (text.shape[1] if text is not None else smap.dim):
        raise SonolumeError("the map and the queries come from different CLIPs; compute the "
                            "map again")
    return MapResult(smap, text, list(queries), clip.label, bool(clip.random))


def write_view_png(path: Path, source: Source, smap, panel) -> Path:
    """One inspector view as a PNG drawn by the engine's renderer (the same look as
    ``sonolume spatial``): title, source and grid line, colour bar, and the random-CLIP
    warning both in the picture and in the PNG's text chunks. Written atomically."""
    from engine.spatial.inspect import RANDOM_NOTE
    from engine.spatial.render import render_overlay, save_png

    g = smap.grid
    subtitle = [f"{source.describe} | {g.width}x{g.height} | CLIP {smap.clip_label}",
                f"grid {g.rows}x{g.cols}, patch {g.patch} px, stride {g.stride}, "
                f"coverage {g.coverage:.0%}"]
    warning = RANDOM_NOTE if smap.random_clip else None
    text = {"Software": "Sonolume spatial inspector", "CLIP": smap.clip_label,
            "Source": source.describe, "View": panel.title}
    if warning:
        text["Warning"] = warning
    picture = render_overlay(source.image, panel.values, g, panel.colormap,
                             [panel.title, *subtitle], vmin=panel.vmin, vmax=panel.vmax,
                             highlight=panel.highlight, warning=warning)
    return save_png(picture, path, text=text)
