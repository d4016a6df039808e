"""The CPPN rendered with lean no-grad torch maths (CPU or CUDA).

Per frame and row chunk: transform the cached pixel grid (zoom, rotation, warp), then one
``addmm`` + in-place ``sin_`` per layer, sigmoid, the 3x3 colour matrix, and rounding into
a uint8 (N, 3) buffer that *is* the (H, W, 3) image. The extra inputs are constant over a
frame, so their first-layer contribution is folded into that layer's bias once per frame
(the first matmul shrinks from 12 to 3 inputs). Chunks keep the working set in cache; on
2 CPU cores this runs near the machine's matmul rate (see bench/README.md).

``dtype=torch.bfloat16`` on a CPU takes another road: the hidden layers' matmuls in bf16
with fp32 accumulation, the bias and a polynomial sine fused in, the first layer and the
colours in fp32. On AMX-BF16 CPUs that is one hand-written kernel for the whole network
(engine.render.amx, built with the C compiler in about a second); on CPUs with only
AVX512-BF16 it is inductor's kernel per layer (engine.render.bf16, a 15-55 s cold
compile). Only worth it on CPUs with bf16 hardware; the factory decides by measurement and
an accuracy check against fp32.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from engine.reactive.params import WARP_FREQ, FrameParams
from engine.render import amx, bf16
from engine.render.base import Renderer, RenderError, Weights, window_for

log = logging.getLogger("sonolume.render")


def default_dtype(device: torch.device) -> torch.dtype:
    """fp16 where the hardware has fast half maths (CUDA); fp32 on CPU, where fp16 and
    bf16 matmuls are emulated and many times slower (measured in bench/render.py)."""
    return torch.float16 if device.type == "cuda" else torch.float32


class TorchRenderer(Renderer):
    name = "torch"

    def __init__(self, cppn, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None, chunk: int | None = None,
                 compile: bool = True, amx_kernel: bool = True, bf16x3: bool = False):
        """``chunk``: rows per step of the fp32/fp16 path (the bf16 CPU path has its own
        fixed chunk, so one compiled kernel serves every caller); default 16384 on a CPU
        (a chunk's activations stay in cache) and 2^20 on a GPU (a 1080p frame in two
        steps instead of 127, each ~12 kernel launches; bench/gpu.py times both).
        ``compile``: for the bf16 CPU path, False runs the same maths eagerly (slow; for
        tests).
        ``amx_kernel``: False keeps inductor's kernel even where the AMX one runs (the
        bench compares them). ``bf16x3`` (with ``dtype=torch.bfloat16``, AMX kernel only):
        every matmul as three bf16 products of split operands, fp32's picture to rounding
        at a quarter of fp32's CPU time (engine.render.amx.AmxCppn)."""
        self._amx: amx.AmxCppn | None = None
        self.amx_kernel = bool(amx_kernel)
        self.bf16x3 = bool(bf16x3)
        if device is None:
            device = "cpu"
        self.device = torch.device(device)
        self.dtype = dtype or default_dtype(self.device)
        self.chunk = int(chunk) if chunk else self.default_chunk(self.device)
        self.fused_bf16 = self.device.type == "cpu" and self.dtype == torch.bfloat16
        self.compile = bool(compile)
        if self.bf16x3 and not (self.fused_bf16 and self.compile and self.amx_kernel):
            raise RenderError("bf16x3 is a mode of the compiled AMX kernel: it needs "
                              "dtype=torch.bfloat16 on the CPU, compile and amx_kernel")
        self._grids: dict[tuple, torch.Tensor] = {}
        self.set_cppn(cppn)

    @staticmethod
    def default_chunk(device) -> int:
        return 16384 if torch.device(device).type == "cpu" else 1 << 20

    @property
    def description(self) -> str:
        text = f"torch {self.device.type} {str(self.dtype).replace('torch.', '')}"
        if self.bf16x3:
            return f"torch {self.device.type} bf16x3 (fused AMX kernel, 3 bf16 products per matmul)"
        if self.fused_bf16:
            text += {"amx": " (fused AMX kernel, polynomial sine)",
                     "inductor": " (fused matmul + polynomial sine, inductor)",
                     "eager": " (fused maths, eager)"}[self.kernel]
        return text

    @property
    def kernel(self) -> str | None:
        """Which bf16 kernel draws: "amx" (engine.render.amx), "inductor"
        (engine.render.bf16's compiled one), "eager" (compile=False); None off that path."""
        if not self.fused_bf16:
            return None
        if not self.compile:
            return "eager"
        return "amx" if self._amx is not None else "inductor"

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
        if self.fused_bf16:  # matmul operands bf16, everything added to them fp32
            f32 = torch.float32
            self._w0_xyr = t(w0[:, :3].T, f32)
            self._layers = [(t(W.T), t(b, f32)) for W, b in w.hidden[1:]]
            self._out = (t(w.out[0].T), t(w.out[1], f32))
            if self.compile and self.amx_kernel:
                try:
                    self._amx = amx.AmxCppn(w, precise=self.bf16x3)
                except amx.KernelUnavailable as exc:
                    self._amx = None
                    if self.bf16x3:
                        raise RenderError(f"bf16x3 needs the AMX kernel: {exc}") from exc
                    log.info("bf16 via inductor: %s", exc)

    def _grid(self, width: int, height: int, pad_to: int = 1) -> torch.Tensor:
        """The frame's pixel centres, (H*W, 2), with rows repeated at the end up to a
        multiple of ``pad_to`` (so every chunk has the same shape)."""
        key = (width, height, pad_to)
        grid = self._grids.get(key)
        if grid is None:
            x0, y0, x1, y1 = window_for(width, height)
            xs = x0 + (torch.arange(width, dtype=torch.float32) + 0.5) * ((x1 - x0) / width)
            ys = y0 + (torch.arange(height, dtype=torch.float32) + 0.5) * ((y1 - y0) / height)
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1).to(self.device)
            extra = -grid.shape[0] % pad_to
            if extra:
                grid = torch.cat([grid, grid[:1].expand(extra, 2)])
            if len(self._grids) > 4:
                self._grids.clear()
            self._grids[key] = grid
        return grid

    def _first_bias(self, params: FrameParams) -> torch.Tensor:
        e = np.asarray(params.extras, np.float64).reshape(-1)
        if e.size != self._w0_extra.shape[1]:
            raise RenderError(f"this style takes {self._w0_extra.shape[1]} extra inputs, "
                              f"the parameters have {e.size}")
        dt = torch.float32 if self.fused_bf16 else self.dtype
        return torch.from_numpy(self._b0 + self._w0_extra @ e).to(self.device, dt)

    @torch.inference_mode()
    def render_float(self, params: FrameParams, width: int, height: int) -> torch.Tensor:
        """(H*W, 3) float32 colours in [0, 1], post effects applied."""
        return self._render(params, width, height, as_uint8=False)

    def render(self, params: FrameParams, width: int, height: int) -> np.ndarray:
        out = self._render(params, width, height, as_uint8=True)
        return out.cpu().numpy().reshape(height, width, 3)

    @torch.inference_mode()
    def _render(self, params: FrameParams, width: int, height: int, as_uint8: bool):
        if self.fused_bf16:
            return self._render_bf16(params, width, height, as_uint8)
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

    def _render_bf16(self, params: FrameParams, width: int, height: int, as_uint8: bool):
        if self._amx is not None:
            out = np.empty((width * height, 3), np.uint8 if as_uint8 else np.float32)
            self._amx.frame(self._first_bias(params).numpy(), params.coord_matrix().T,
                            (float(params.warp), float(params.warp_phase)),
                            params.color_matrix().T, window_for(width, height), width,
                            height, out, threads=torch.get_num_threads())
            return torch.from_numpy(out)
        rows = bf16.CHUNK
        key = ("planar", width, height, rows)
        planar = self._grids.get(key)
        if planar is None:  # x and y as two contiguous rows: see bf16.chunk_rgb
            planar = self._grids[key] = self._grid(width, height, pad_to=rows).T.contiguous()
        n = width * height

        def f32(a):
            return torch.as_tensor(np.asarray(a, np.float32))

        coord = f32(params.coord_matrix().T)
        color = f32(params.color_matrix().T)
        warp = f32([params.warp, params.warp_phase])
        b0 = self._first_bias(params)
        w_out, b_out = self._out
        fn = bf16.compiled_chunk_rgb() if self.compile else bf16.chunk_rgb
        threads = torch.get_num_threads()
        out = torch.empty((n, 3), dtype=torch.uint8 if as_uint8 else torch.float32)
        for s in range(0, n, rows):
            m = min(rows, n - s)
            rgb = fn(planar[0, s : s + rows], planar[1, s : s + rows], coord, warp,
                     self._w0_xyr, b0, self._layers, w_out, b_out, color, threads)
            if as_uint8:
                out[s : s + m] = rgb[:m].mul_(255.0).add_(0.5)
            else:
                out[s : s + m] = rgb[:m]
        return out
