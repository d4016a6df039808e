"""What every renderer shares: the interface, the weight layout and the pixel grid.

A renderer draws a CPPN style for given :class:`~engine.reactive.FrameParams` at any size.
Both implementations follow the conventions in :mod:`engine.reactive.params` exactly, so
their frames agree to within rounding (the tests hold them to 2/255).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import numpy as np

from engine.errors import SonolumeError


class RenderError(SonolumeError):
    """A renderer cannot be created or cannot draw."""


class GLUnavailable(RenderError):
    """No usable OpenGL context (no display/EGL, too old a GL, or a limit exceeded)."""


def window_for(width: int, height: int) -> tuple[float, float, float, float]:
    """The CPPN-coordinate rectangle a (width x height) frame shows: the longer side spans
    [-pi, pi], as in :func:`engine.cppn.model.coordinate_grid`."""
    if width < 1 or height < 1:
        raise RenderError(f"image size must be positive, got {width}x{height}")
    side = max(width, height)
    hw, hh = math.pi * width / side, math.pi * height / side
    return (-hw, -hh, hw, hh)


@dataclass(frozen=True)
class Weights:
    """A CPPN's parameters as plain float32 arrays (out x in matrices, as nn.Linear)."""

    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]  # (W, b) per hidden layer
    out: tuple[np.ndarray, np.ndarray]
    extra_inputs: int

    @classmethod
    def from_cppn(cls, cppn) -> Weights:
        def arr(t):
            return t.detach().to("cpu").float().numpy().copy()

        hidden = tuple((arr(layer.weight), arr(layer.bias)) for layer in cppn.hidden)
        return cls(hidden=hidden, out=(arr(cppn.out.weight), arr(cppn.out.bias)),
                   extra_inputs=int(cppn.config.extra_inputs))

    @property
    def width(self) -> int:
        return int(self.hidden[0][0].shape[0])

    @property
    def layers(self) -> int:
        return len(self.hidden)

    def flops_per_pixel(self) -> int:
        """Multiply-adds x2 of the matmuls a renderer does per pixel (extras folded away)."""
        h = self.width
        return 2 * (3 * h + (self.layers - 1) * h * h + h * 3)


class Renderer(abc.ABC):
    """Interface of both renderers."""

    name = "base"

    @abc.abstractmethod
    def set_cppn(self, cppn) -> None:
        """Draw this CPPN from now on (a style switch; cheap when the shape is the same)."""

    @abc.abstractmethod
    def render(self, params, width: int, height: int) -> np.ndarray:
        """One frame as (height, width, 3) uint8, row 0 at the top."""

    def release(self) -> None:  # noqa: B027 - optional hook, nothing to free by default
        """Free GPU/GL resources; the renderer is unusable afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
