"""Pictures for spatial maps: an image file or one frame of a video, decoded to uint8 RGB
no larger than the map needs. Light on purpose (numpy; Pillow and ffmpeg on demand): NeRV's
frame reader shares the video helpers without importing torch's side of ``maps``.

A picture's header is checked before its pixels are decoded (a 149-byte PNG can claim
12000x12000) and big pictures are scaled down before anything becomes float.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from pathlib import Path

import numpy as np

from engine.errors import SonolumeError

# Pictures are read up to MAX_PIXELS (the decoded picture then takes at most ~270 MB) and
# scaled to MAX_SIDE on the long side before patching: a 10000x10000 PNG used to peak at
# 11.7 GB. 4096 keeps 4K frames and 12-megapixel photos at full size.
MAX_SIDE = 4096
MAX_DECODE_SIDE = 8192
MAX_PIXELS = MAX_DECODE_SIDE * MAX_DECODE_SIDE
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".ogv", ".ts"}


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
            with quiet_resize_warning():
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
def quiet_resize_warning():
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
        fps = meta.get("fps")
        info = {"kind": "video", "path": str(path), "frame": frame or 0,
                "fps": fps if isinstance(fps, (int, float)) and math.isfinite(fps) else None}
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
