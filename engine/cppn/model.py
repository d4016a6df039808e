"""A sine-activated coordinate network (CPPN) mapping (x, y, r, extras...) to RGB.

Initialisation follows SIREN's argument: hidden weights ~ U(-sqrt(6/n), sqrt(6/n)) keep
every pre-activation near unit variance, so depth adds detail instead of collapsing to a
flat colour or exploding to noise. An untrained network therefore already draws smooth,
layered interference patterns, which makes a good starting point for CLIP and a good
"seeded pattern" on its own.

The extra inputs are free channels a renderer drives over time (latent drift, beat pulse,
audio bands); training jitters them slightly so a style holds its look while they move.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import nn

COORD_INPUTS = 3  # x, y, r


@dataclass(frozen=True)
class CPPNConfig:
    hidden: int = 128
    layers: int = 4
    extra_inputs: int = 9
    first_gain: float = 2.0
    hidden_gain: float = 1.25

    @property
    def in_features(self) -> int:
        return COORD_INPUTS + self.extra_inputs

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CPPNConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown CPPN settings: {', '.join(sorted(unknown))}")
        cfg = cls(**{k: data[k] for k in data})
        if not (1 <= cfg.layers <= 16 and 4 <= cfg.hidden <= 1024 and 0 <= cfg.extra_inputs <= 64):
            raise ValueError(f"CPPN size out of range: {cfg}")
        return cfg


class CPPN(nn.Module):
    def __init__(self, config: CPPNConfig | None = None, seed: int | None = None):
        super().__init__()
        self.config = config = config or CPPNConfig()
        dims = [config.in_features] + [config.hidden] * config.layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(config.hidden, 3)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int | None = None) -> None:
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        cfg = self.config
        with torch.no_grad():
            for i, layer in enumerate(self.hidden):
                n = layer.in_features
                if i == 0:
                    # Coordinates already span [-pi, pi]; a unit-range first layer gives a
                    # few broad bands across the frame rather than fine noise.
                    bound = cfg.first_gain
                else:
                    bound = cfg.hidden_gain * math.sqrt(6.0 / n)
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-math.pi / 2, math.pi / 2, generator=gen)
            bound = math.sqrt(6.0 / cfg.hidden)
            self.out.weight.uniform_(-bound, bound, generator=gen)
            self.out.bias.zero_()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(N, in_features) -> (N, 3) colours in [0, 1]."""
        h = inputs
        for layer in self.hidden:
            h = torch.sin(layer(h))
        return torch.sigmoid(self.out(h))

    @torch.no_grad()
    def render(
        self,
        width: int,
        height: int,
        extras: torch.Tensor | np.ndarray | None = None,
        chunk: int = 16384,
    ) -> torch.Tensor:
        """Image (3, H, W) in [0, 1] without autograd, in row chunks with in-place maths.

        The chunks keep the working set in cache and the in-place sin avoids a fresh
        allocation per layer; on CPU this is ~3x faster than calling forward(). The image
        is on the network's device (a trainer on CUDA scores it there); ``to_uint8``
        brings it to the host."""
        device = self.out.weight.device
        coords = coordinate_grid(width, height, extras, self.config.extra_inputs).to(device)
        out = torch.empty(coords.shape[0], 3, device=device)
        weights = [(layer.weight.t().contiguous(), layer.bias) for layer in self.hidden]
        w_out, b_out = self.out.weight.t().contiguous(), self.out.bias
        for start in range(0, coords.shape[0], chunk):
            h = coords[start : start + chunk]
            for w, b in weights:
                h = torch.addmm(b, h, w).sin_()
            torch.sigmoid(torch.addmm(b_out, h, w_out), out=out[start : start + chunk])
        return out.t().reshape(3, height, width)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def coordinate_grid(
    width: int,
    height: int,
    extras: torch.Tensor | np.ndarray | None = None,
    extra_inputs: int = 0,
    window: tuple[float, float, float, float] | None = None,
) -> torch.Tensor:
    """Pixel-centre inputs (H*W, 3 + extra_inputs), row-major.

    The longer side spans [-pi, pi] and the shorter side is the centred part of it, so any
    aspect ratio shows a crop of the square the style was trained on, never territory CLIP
    did not see. ``window`` = (x0, y0, x1, y1) in those units selects a sub-rectangle (the
    trainer's cutouts use this)."""
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if window is None:
        side = max(width, height)
        half_w, half_h = math.pi * width / side, math.pi * height / side
        window = (-half_w, -half_h, half_w, half_h)
    x0, y0, x1, y1 = window
    xs = x0 + (torch.arange(width, dtype=torch.float32) + 0.5) * ((x1 - x0) / width)
    ys = y0 + (torch.arange(height, dtype=torch.float32) + 0.5) * ((y1 - y0) / height)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    rr = torch.sqrt(xx * xx + yy * yy)
    cols = [xx.reshape(-1), yy.reshape(-1), rr.reshape(-1)]
    grid = torch.stack(cols, dim=1)
    if extra_inputs:
        if extras is None:
            extras = torch.zeros(extra_inputs)
        extras = torch.as_tensor(extras, dtype=torch.float32).reshape(-1)
        if extras.numel() != extra_inputs:
            raise ValueError(f"expected {extra_inputs} extra inputs, got {extras.numel()}")
        grid = torch.cat([grid, extras.expand(grid.shape[0], extra_inputs)], dim=1)
    return grid.contiguous()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] on any device -> (H, W, 3) uint8, rounding to nearest."""
    return (image.clamp(0, 1).permute(1, 2, 0) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
