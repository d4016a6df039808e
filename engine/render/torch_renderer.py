"""The CPPN rendered with lean no-grad torch maths (CPU or CUDA).

Per frame and row chunk: transform the cached pixel grid (zoom, rotation, warp), then one
``addmm`` + in-place ``sin_`` per layer, sigmoid, the 3x3 colour matrix, and rounding into
a uint8 (N, 3) buffer that *is* the (H, W, 3) image. The extra inputs are constant over a
frame, so their first-layer contribution is folded into that layer's bias once per frame
(the first matmul shrinks from 12 to 3 inputs). Chunks keep the working set in cache; on
2 CPU cores this runs near the machine's matmul rate (see bench/README.md).
"""

from __future__ import annotations

import numpy as np
import torch

from engine.reactive.params import WARP_FREQ, FrameParams
from engine.render.base import Renderer, RenderError, Weights, window_for


def default_dtype(device: torch.device) -> torch.dtype:
    """fp16 where the hardware has fast half maths (CUDA); fp32 on CPU, where fp16 and
    bf16 matmuls are emulated and many times slower (measured in bench/render.py)."""
    return torch.float16 if device.type == "cuda" else torch.float32


class TorchRenderer(Renderer):
    name = "torch"

    def __init__(self, cppn, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None, chunk: int = 16384):
        if device is None:
            device = "cpu"
        self.device = torch.device(device)
        self.dtype = dtype or default_dtype(self.device)
        self.chunk = int(chunk)
        self._grids: dict[tuple[int, int], torch.Tensor] = {}
        self.set_cppn(cppn)

    @property
    def description(self) -> str:
        return f"torch {self.device.type} {str(self.dtype).replace('torch.', '')}"

    def set_cppn(self, cppn) -> None:
        w = Weights.from_cppn(cppn)
        self.weights = w
        dev, dt = self.device, self.dtype

        def t(a, dtype=dt):
            return torch.from_numpy(np.ascontiguousarray(a)).to(dev, dtype)

        w0, b0 = w.hidden[0]
        self._w0_xyr = t(w0[:, :3].T)  # (3, H)
        self._w0_extra = w0[:, 3:].astype(np.float64)  # (H, E), folded on the CPU
        self._b0 = b0.astype(np.float64)
        self._layers = [(t(b), t(W.T)) for W, b in w.hidden[1:]]
        self._out = (t(w.out[1]), t(w.out[0].T))

    def _grid(self, width: int, height: int) -> torch.Tensor:
        key = (width, height)
        grid = self._grids.get(key)
        if grid is None:
            x0, y0, x1, y1 = window_for(width, height)
            xs = x0 + (torch.arange(width, dtype=torch.float32) + 0.5) * ((x1 - x0) / width)
            ys = y0 + (torch.arange(height, dtype=torch.float32) + 0.5) * ((y1 - y0) / height)
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1).to(self.device)
            if len(self._grids) > 4:
                self._grids.clear()
            self._grids[key] = grid
        return grid

    def _first_bias(self, params: FrameParams) -> torch.Tensor:
        e = np.asarray(params.extras, np.float64).reshape(-1)
        if e.size != self._w0_extra.shape[1]:
            raise RenderError(f"this style takes {self._w0_extra.shape[1]} extra inputs, "
                              f"the parameters have {e.size}")
        return torch.from_numpy(self._b0 + self._w0_extra @ e).to(self.device, self.dtype)

    @torch.inference_mode()
    def render_float(self, params: FrameParams, width: int, height: int) -> torch.Tensor:
        """(H*W, 3) float32 colours in [0, 1], post effects applied."""
        return self._render(params, width, height, as_uint8=False)

    def render(self, params: FrameParams, width: int, height: int) -> np.ndarray:
        out = self._render(params, width, height, as_uint8=True)
        return out.cpu().numpy().reshape(height, width, 3)

    @torch.inference_mode()
    def _render(self, params: FrameParams, width: int, height: int, as_uint8: bool):
        grid = self._grid(width, height)
        n = grid.shape[0]
        dev, dt = self.device, self.dtype
        coord = torch.from_numpy(params.coord_matrix().T.copy()).to(dev)  # rows @ A^T
        color = torch.from_numpy(params.color_matrix().T.copy()).to(dev)
        warp, phase = float(params.warp), float(params.warp_phase)
        b0 = self._first_bias(params)
        b_out, w_out = self._out
        out = torch.empty((n, 3), dtype=torch.uint8 if as_uint8 else torch.float32, device=dev)
        for s in range(0, n, self.chunk):
            p = grid[s : s + self.chunk] @ coord
            if warp:
                p = p + warp * torch.sin(p.flip(1) * WARP_FREQ + phase)
            inp = torch.cat([p, torch.linalg.vector_norm(p, dim=1, keepdim=True)], 1)
            h = torch.addmm(b0, inp.to(dt), self._w0_xyr).sin_()
            for b, w in self._layers:
                h = torch.addmm(b, h, w).sin_()
            rgb = (torch.addmm(b_out, h, w_out).float().sigmoid_() @ color).clamp_(0.0, 1.0)
            if as_uint8:
                out[s : s + self.chunk] = rgb.mul_(255.0).add_(0.5)
            else:
                out[s : s + self.chunk] = rgb
        return out
