"""NeRV-CLIP fixtures: the committed Big Buck Bunny excerpt, a synthetic video made on the
fly, an isolated target cache, and one thread (the suite shares 2 cores; tiny convs run
faster without cross-thread waits)."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).resolve().parents[2] / "data"
BUNNY = DATA / "bunny-16f-64x128.mp4"


def synthetic_frames(n: int = 16, h: int = 32, w: int = 64) -> np.ndarray:
    """uint8 (n, h, w, 3): a background whose hue turns once around the colour wheel,
    moving stripes and a white disc crossing the frame. Frames differ enough that even
    a random CLIP tells them apart (pairwise cos 0.61-0.98)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        t = i / n
        bg = np.array(colorsys.hsv_to_rgb(t, 0.8, 0.9), np.float32)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx / w * 3 + yy / h * 2 - 2 * t))
        img = bg * (0.6 + 0.4 * stripes)[..., None]
        cx, cy = w * (0.15 + 0.7 * t), h * (0.5 + 0.3 * np.sin(2 * np.pi * t))
        img[((xx - cx) ** 2 + (yy - cy) ** 2) < (0.18 * h) ** 2] = 1.0
        out.append((img * 255).astype(np.uint8))
    return np.stack(out)


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    import imageio_ffmpeg

    h, w = frames.shape[1:3]
    writer = imageio_ffmpeg.write_frames(
        str(path), (w, h), fps=fps, codec="libx264", quality=None,
        output_params=["-crf", "10"], ffmpeg_log_level="error")
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return path


@pytest.fixture(scope="session")
def bunny() -> Path:
    assert BUNNY.is_file(), BUNNY
    return BUNNY


@pytest.fixture(scope="session")
def synth_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "synth.mp4", synthetic_frames())


@pytest.fixture(scope="session")
def nerv_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nerv-cache")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
