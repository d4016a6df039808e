"""Spatial CLIP maps: one CLIP image embedding per patch of a :class:`PatchGrid`.

Each patch is cut from the RGB frame and resized to CLIP's input square by
``ClipModel.encode_image`` (bilinear, anti-aliased), in batches. Maps are cached on disk
as ``.npz`` (read with ``allow_pickle=False``) under ``$SONOLUME_CACHE_DIR/spatial`` (else the
platform's user cache folder), named by a hash of the picture's pixels, the CLIP identity
(label, spec, and the config file's bytes for a random test CLIP) and the grid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.atomic import atomic_path
from engine.errors import Cancelled, SonolumeError
from engine.spatial.grid import PatchGrid, make_grid

CACHE_VERSION = 1
# Pictures are read up to MAX_PIXELS (the decoded picture then takes at most ~270 MB) and
# scaled to MAX_SIDE on the long side before patching: a 10000x10000 PNG used to peak at
# 11.7 GB. 4096 keeps 4K frames and 12-megapixel photos at full size.
MAX_SIDE = 4096
MAX_DECODE_SIDE = 8192
MAX_PIXELS = MAX_DECODE_SIDE * MAX_DECODE_SIDE
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".ogv", ".ts"}


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


# -- pictures ---------------------------------------------------------------------------------

class PictureTooLarge(SonolumeError):
    """A picture over the decode bound: refused before its pixels are decoded."""


class NotAnImage(SonolumeError):
    """Pillow does not recognise the file (it may still be a video)."""


def _too_big(path: Path, what: str) -> PictureTooLarge:
    return PictureTooLarge(
        f"{path} is too large: {what}; pictures of up to {MAX_PIXELS // 1_000_000} "
        f"megapixels (e.g. {MAX_DECODE_SIDE}x{MAX_DECODE_SIDE}) are read, and scaled to "
        f"{MAX_SIDE} px on the long side before patching")


def fit_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, so the long side is at most ``max_side``."""
    scale = max_side / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def read_image(path: str | Path, max_side: int = MAX_SIDE) -> tuple[np.ndarray, tuple[int, int]]:
    """An image file as uint8 RGB (H, W, 3), scaled down to ``max_side`` on its long side,
    plus the file's own (width, height).

    The header's size is checked before any pixel is decoded (a 149-byte PNG can claim
    12000x12000), and JPEGs are decoded at a reduced scale where the decoder can; other
    formats are decoded once at full size (at most :data:`MAX_PIXELS`) and shrunk before
    anything is converted to float."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise SonolumeError(f"file not found: {path}")
    try:
        with warnings.catch_warnings():
            # Our own bound below is tighter than Pillow's warning threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise _too_big(path, f"its header claims more than "
                             f"{2 * (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000} "
                             "megapixels") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise NotAnImage(f"cannot read {path} as an image: {exc}") from exc
    with im:
        w, h = im.size
        if w < 1 or h < 1:
            raise SonolumeError(f"cannot read {path} as an image: it has no pixels")
        if w * h > MAX_PIXELS:
            raise _too_big(path, f"its header says {w}x{h} "
                                 f"({w * h / 1e6:.0f} megapixels)")
        try:
            target = fit_size(w, h, max_side)
            if target != (w, h):
                im.draft("RGB", target)  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            if im.mode not in ("RGB", "RGBA", "L"):
                im = im.convert("RGB")
            if im.size != target:
                im = im.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy(), (w, h)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise SonolumeError(f"cannot read {path} as an image: {exc}") from exc


def load_image(path: str | Path, max_side: int = MAX_SIDE) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3), at most ``max_side`` on its long side."""
    return read_image(path, max_side)[0]


def read_video_frame(path: str | Path, index: int = 0,
                     max_side: int = MAX_SIDE) -> tuple[np.ndarray, dict]:
    """Frame ``index`` (0-based, in decode order) of a video as uint8 RGB (H, W, 3), at the
    video's own size scaled down to ``max_side`` on the long side, plus ffmpeg's metadata
    (fps, source size, duration)."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise SonolumeError(f"file not found: {path}")
    if index < 0:
        raise SonolumeError("--frame must be >= 0")
    try:
        meta = _probe(path)
    except (RuntimeError, OSError, StopIteration) as exc:
        raise video_error(path, exc) from exc
    w0, h0 = meta["size"]
    w, h = fit_size(w0, h0, max_side)
    params = ["-an", "-sn"]
    if (w, h) != (w0, h0):
        params = ["-vf", f"scale={w}:{h}:flags=area", *params]
    gen = imageio_ffmpeg.read_frames(str(path), output_params=params)
    try:
        try:
            with _quiet_resize_warning():
                next(gen)
        except (RuntimeError, OSError, StopIteration) as exc:
            raise video_error(path, exc) from exc
        seen = 0
        for raw in gen:
            if seen == index:
                frame = np.frombuffer(raw, dtype=np.uint8)
                if frame.size != w * h * 3:
                    raise SonolumeError(f"unexpected frame size decoding {path}")
                return frame.reshape(h, w, 3).copy(), meta
            seen += 1
    except RuntimeError as exc:
        raise SonolumeError(f"cannot decode {path}: {_last_line(exc)}") from exc
    finally:
        gen.close()
    raise SonolumeError(f"{path} has {seen} frames; frame {index} does not exist "
                        f"(frames are numbered from 0)")


def _probe(path: Path) -> dict:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), output_params=["-an", "-sn"])
    try:
        return next(gen)
    finally:
        gen.close()


@contextlib.contextmanager
def _quiet_resize_warning():
    """imageio-ffmpeg warns whenever the output size differs from the source: here that
    is the point."""
    log = logging.getLogger("imageio_ffmpeg")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


# A video stream in ffmpeg's listing of the input; a cover picture in an audio file is one
# too, but not a video to read frames from.
_VIDEO_STREAM = re.compile(r"Stream #\S+.*: Video:(?!.*attached pic)")


class NoVideoStream(SonolumeError):
    """The file opens (ffmpeg lists its streams) but none of them is a video."""


def video_error(path: str | Path, exc: BaseException) -> SonolumeError:
    """One clear line for a file ffmpeg would not open as a video. ffmpeg's own last line
    for an audio file is "Error opening output files", which says nothing useful."""
    text = str(exc)
    if "Input #" in text and not _VIDEO_STREAM.search(text):
        return NoVideoStream(f"{path} has no video stream (is it an audio file?)")
    return SonolumeError(f"cannot read {path} as a video: {_last_line(exc)}")


def _last_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def load_picture(path: str | Path, frame: int | None = None,
                 max_side: int = MAX_SIDE) -> tuple[np.ndarray, dict]:
    """An image, or frame ``frame`` (default 0) of a video, as uint8 RGB (H, W, 3) at most
    ``max_side`` on its long side, plus a description dict (kind, path, frame, the video's
    fps when there is one, and ``scaled_from`` [width, height] when it was scaled down)."""
    path = Path(path)

    def video() -> tuple[np.ndarray, dict]:
        img, meta = read_video_frame(path, frame or 0, max_side)
        info = {"kind": "video", "path": str(path), "frame": frame or 0,
                "fps": meta.get("fps")}
        return img, _scaled(info, img, tuple(meta["size"]))

    if path.suffix.lower() in VIDEO_SUFFIXES:
        return video()
    try:
        img, size = read_image(path, max_side)
    except NotAnImage:
        # Not an image Pillow knows: try it as a video before giving up.
        try:
            return video()
        except NoVideoStream:
            raise SonolumeError(f"cannot read {path}: it is not an image, and it has no "
                                "video stream") from None
        except SonolumeError:
            raise SonolumeError(f"cannot read {path} as an image or a video") from None
    if frame not in (None, 0):
        raise SonolumeError(f"{path} is a still image; --frame applies to videos only")
    return img, _scaled({"kind": "image", "path": str(path)}, img, size)


def _scaled(info: dict, img: np.ndarray, size: tuple[int, int]) -> dict:
    if (img.shape[1], img.shape[0]) != tuple(size):
        info["scaled_from"] = [int(size[0]), int(size[1])]
    return info


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
