"""Video frames for NeRV-CLIP: decoding, sizing, hashing and HNeRV-style frame splits.

Frames are decoded by the ffmpeg that imageio-ffmpeg bundles, scaled so the frame *covers*
the requested size and centre-cropped to it (HNeRV's Bunny setup crops 720x1280 to
640x1280 the same way). Audio streams are ignored, so an exported Sonolume MP4 (video +
AAC) reads like any silent clip.

Sizes in this package are always (height, width), HNeRV's order: ``128x256`` is 128 rows
by 256 columns.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import SonolumeError
from engine.spatial.pictures import quiet_resize_warning, video_error

DEFAULT_SIZE = (128, 256)
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


def parse_hw(text: str, limit: int = 4096) -> tuple[int, int]:
    """'128x256' -> (128, 256) as (height, width)."""
    m = _SIZE.match(text or "")
    if not m:
        raise SonolumeError(f"bad frame size '{text}': use HEIGHTxWIDTH, e.g. 128x256")
    h, w = int(m.group(1)), int(m.group(2))
    if not (8 <= h <= limit and 8 <= w <= limit):
        # The same wording as every other size in Sonolume (engine/export/sizes.py).
        raise SonolumeError(f"bad frame size '{text}': each side must be 8 to {limit}")
    return h, w


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def probe_video(path: str | Path) -> dict:
    """ffmpeg's view of the file: fps, source size, duration, codecs."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise SonolumeError(f"video not found: {path}")
    gen = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(gen)
    except (RuntimeError, OSError, StopIteration) as exc:
        raise video_error(path, exc) from exc
    finally:
        gen.close()
    return meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def load_frames(
    path: str | Path,
    size: tuple[int, int] = DEFAULT_SIZE,
    max_frames: int | None = None,
    step: int = 1,
) -> np.ndarray:
    """Decode ``path`` to uint8 frames (N, H, W, 3), scaled to cover ``size`` (H, W) and
    centre-cropped. ``step`` keeps every step-th frame; ``max_frames`` caps the count."""
    import imageio_ffmpeg

    h, w = size
    if step < 1:
        raise SonolumeError("frame step must be at least 1")
    if max_frames is not None and max_frames < 1:
        raise SonolumeError("the frame limit must be at least 1")
    meta = probe_video(path)
    if not meta.get("size") or not meta.get("codec"):
        raise SonolumeError(f"{path} has no video stream")
    # Downscale with an area filter (anti-aliased), then crop the centre: bicubic upscale
    # when the source is smaller than the requested size.
    vf = (f"scale={w}:{h}:force_original_aspect_ratio=increase:flags=area+accurate_rnd,"
          f"crop={w}:{h}")
    if step > 1:
        vf = f"select='not(mod(n\\,{step}))'," + vf
    out = ["-vf", vf, "-an", "-sn", "-fps_mode", "passthrough"]
    if max_frames:
        out = ["-frames:v", str(max_frames)] + out
    gen = imageio_ffmpeg.read_frames(str(path), output_params=out)
    frames = []
    try:
        with quiet_resize_warning():
            next(gen)
        for raw in gen:
            frame = np.frombuffer(raw, dtype=np.uint8)
            if frame.size != h * w * 3:
                raise SonolumeError(f"unexpected frame size decoding {path}")
            frames.append(frame.reshape(h, w, 3))
    except RuntimeError as exc:
        raise SonolumeError(f"cannot decode {path}: {_first_line(exc)}") from exc
    finally:
        gen.close()
    if not frames:
        raise SonolumeError(f"{path} has no decodable video frames")
    return np.stack(frames)


# -- frame splits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameSplit:
    """HNeRV's ``a_b_c``: frames in groups of c; positions < a train, positions >= b are
    held out as *unseen*; positions a..b-1 are in neither set. ``all`` fits every frame
    and holds none out (HNeRV's plain video-fitting setting)."""

    a: int
    b: int
    c: int
    all_frames: bool = False

    @property
    def text(self) -> str:
        return "all" if self.is_all else f"{self.a}_{self.b}_{self.c}"

    @property
    def is_all(self) -> bool:
        return self.all_frames

    def role(self, index: int) -> str:
        if self.is_all:
            return "train"
        pos = index % self.c
        if pos < self.a:
            return "train"
        if pos >= self.b:
            return "unseen"
        return "skipped"

    def indices(self, n: int) -> tuple[list[int], list[int]]:
        roles = [self.role(i) for i in range(n)]
        train = [i for i, r in enumerate(roles) if r == "train"]
        unseen = [i for i, r in enumerate(roles) if r == "unseen"]
        return train, unseen

    def check_frames(self, n: int) -> tuple[list[int], list[int]]:
        train, unseen = self.indices(n)
        if not train:
            raise SonolumeError(f"split {self.text} leaves no training frames in {n} frames")
        if not self.is_all and not unseen:
            raise SonolumeError(
                f"split {self.text} leaves no unseen frames among the {n} frames of this "
                f"video (groups of {self.c} need at least {self.b + 1} frames); use a video "
                "with more frames or --split all"
            )
        return train, unseen


def parse_split(text: str) -> FrameSplit:
    """Validate ``a_b_c`` (or ``all``); an empty unseen set is an error naming a fix."""
    text = (text or "").strip()
    if text.lower() == "all":
        return FrameSplit(1, 1, 1, all_frames=True)
    parts = text.split("_")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise SonolumeError(
            f"bad split '{text}': use a_b_c (e.g. 4_4_5: in each group of 5 frames, "
            "positions 0-3 train and position 4 is unseen) or 'all'"
        )
    a, b, c = (int(p) for p in parts)
    if c < 2:
        raise SonolumeError(f"bad split '{text}': the group size c must be at least 2 "
                            "(or use --split all)")
    if not 1 <= a <= c:
        raise SonolumeError(f"bad split '{text}': need 1 <= a <= c (a = training positions)")
    if b < a:
        raise SonolumeError(f"bad split '{text}': need a <= b (positions >= b are unseen; "
                            f"b < a would put frames in both sets)")
    if b >= c:
        fix = f"{min(a, c - 1)}_{min(a, c - 1)}_{c}"
        raise SonolumeError(
            f"split '{text}' leaves the unseen set empty (positions >= {b} of a group of "
            f"{c} do not exist), so nothing measures generalisation; did you mean {fix}? "
            "(use --split all to fit every frame on purpose)"
        )
    return FrameSplit(a, b, c)
