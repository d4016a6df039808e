"""Test helpers for the spatial tests (a plain module, not a conftest, so it cannot clash
with other folders' conftests): a fake CLIP whose 'meaning' is colour, so spatial maps
have known right answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.clip.loader import ClipSpec

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


class ColourClip:
    """encode_image -> unit mean-RGB (plus a small constant), encode_text -> the named
    colour. Has the attributes the spatial code reads from a real ClipModel."""

    image_size = 16
    random = False

    def __init__(self):
        self.spec = ClipSpec(model="colour-fake", pretrained="test")
        self.calls = 0

    @property
    def label(self) -> str:
        return "colour-fake/test"

    def encode_image(self, images: torch.Tensor, resize: bool = True) -> torch.Tensor:
        self.calls += 1
        if resize:
            images = F.interpolate(images, size=(self.image_size, self.image_size),
                                   mode="bilinear", antialias=True, align_corners=False)
        rgb = images.mean(dim=(2, 3))
        return F.normalize(torch.cat([rgb, torch.full_like(rgb[:, :1], 0.05)], 1), dim=-1)

    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        rows = [list(COLOURS[p]) + [0.0] for p in prompts]
        return F.normalize(torch.tensor(rows), dim=-1)


@pytest.fixture
def colour_clip():
    return ColourClip()


def halves(w=128, h=64) -> np.ndarray:
    """Left half pure red, right half pure blue."""
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[:, : w // 2, 0] = 255
    img[:, w // 2:, 2] = 255
    return img


@pytest.fixture
def red_blue():
    return halves()


def write_video(path, colours, size=(64, 48)):
    import imageio_ffmpeg

    w, h = size
    gen = imageio_ffmpeg.write_frames(str(path), (w, h), fps=10, codec="libx264",
                                      quality=10, pix_fmt_out="yuv444p",
                                      macro_block_size=16)
    gen.send(None)
    for c in colours:
        gen.send(np.full((h, w, 3), c, dtype=np.uint8).tobytes())
    gen.close()
