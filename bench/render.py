"""Renderer speed: frames per second of the GL shader and the torch renderer at 256², 512²,
720p and 1080p, with the achieved GFLOP/s against the fp32 matmul roof measured in the
same run (before and after: the machine is shared and noisy).

Rows:
* torch, 2 threads: one frame at a time, torch's intra-op threads (the live preview's way)
* torch, frame-parallel: one single-threaded renderer per core, whole frames in parallel
  (the export's way on a CPU), throughput in frames per second
* gl: the fragment shader on whatever OpenGL EGL gives (llvmpipe without a GPU)
* fp16 / bf16 on the CPU at 256², against fp32
* cuda fp32 / fp16 when a GPU is present

    .venv/bin/python bench/render.py [--seconds 3] [--no-readme]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.cppn.model import CPPN  # noqa: E402
from engine.reactive import FrameParams  # noqa: E402
from engine.render import GLUnavailable, TorchRenderer  # noqa: E402
from engine.runtime import tune_allocator  # noqa: E402

SIZES = [("256²", 256, 256), ("512²", 512, 512), ("720p", 1280, 720), ("1080p", 1920, 1080)]


def _mm_rate(device, dtype, seconds) -> float:
    a = torch.randn(16384, 128, device=device, dtype=dtype)
    w = torch.randn(128, 128, device=device, dtype=dtype)
    out = torch.empty(16384, 128, device=device, dtype=dtype)
    torch.mm(a, w, out=out)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(20):
            torch.mm(a, w, out=out)
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 20 * 2 * 16384 * 128 * 128 / (time.perf_counter() - t) / 1e9)
    return best


def roof(device="cpu", dtype=torch.float32, seconds=1.0) -> float:
    """GFLOP/s of a CPPN-shaped matmul (16384x128 @ 128x128): on a CPU the better of one
    matmul on all threads and one single-threaded matmul per core at once (on a busy
    machine torch's threads wait for each other and the first alone understates it)."""
    if device != "cpu":
        return _mm_rate(device, dtype, seconds)
    together = _mm_rate(device, dtype, seconds)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rates = [0.0] * (os.cpu_count() or 1)

    def one(k):
        rates[k] = _mm_rate(device, dtype, seconds)

    ts = [threading.Thread(target=one, args=(k,)) for k in range(len(rates))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    torch.set_num_threads(threads)
    return max(together, sum(rates))


def params(i: int, e: int) -> FrameParams:
    return FrameParams(extras=(0.4 * np.sin(np.arange(e) + 0.1 * i)).astype(np.float32),
                       zoom=1.1, rotation=0.01 * i, warp=0.05, hue=0.02, brightness=1.05)


def fps_single(renderer, w, h, seconds, e, cuda=False, warm=True) -> float:
    if warm:
        renderer.render(params(0, e), w, h)  # warm-up (grids, shader compile)
    n, start = 0, time.perf_counter()
    while True:
        renderer.render(params(n, e), w, h)
        if cuda:
            torch.cuda.synchronize()
        n += 1
        if time.perf_counter() - start > seconds:
            return n / (time.perf_counter() - start)


def fps_parallel(cppn, w, h, seconds, e) -> float:
    """Frames per second with one single-threaded renderer per core (the export's way)."""
    workers = os.cpu_count() or 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    done = [0] * workers
    stop = time.perf_counter() + seconds

    def work(k):
        r = TorchRenderer(cppn, chunk=4096)
        r.render(params(0, e), w, h)
        if k == 0:
            work.start = time.perf_counter()
        while time.perf_counter() < stop or done[k] == 0:
            r.render(params(done[k], e), w, h)
            done[k] += 1

    work.start = time.perf_counter()
    ts = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    torch.set_num_threads(threads)
    return sum(done) / (time.perf_counter() - work.start)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()
    tune_allocator()
    cppn = CPPN(seed=1)  # the default 4x128 network with 9 extra inputs
    e = cppn.config.extra_inputs
    flop = TorchRenderer(cppn).weights.flops_per_pixel()
    roof0 = roof()
    rows = []

    def row(name, size_name, w, h, fps, roof_gf, note=""):
        """``roof_gf``: a number, or a function measuring it now (bracketing the row)."""
        if callable(roof_gf):
            roof_gf = (roof_before + roof_gf()) / 2
        gf = fps * w * h * flop / 1e9
        rows.append((name, size_name, fps, gf, gf / roof_gf, roof_gf, note))
        print(f"{name:34s} {size_name:6s} {fps:8.3f} fps {gf:7.1f} GFLOP/s "
              f"(roof {roof_gf:.0f})", flush=True)

    def cpu_roof():  # the machine's load drifts: measure around every row
        return roof(seconds=0.5)

    tr = TorchRenderer(cppn)
    for size_name, w, h in SIZES:
        roof_before = cpu_roof()
        fps = fps_single(tr, w, h, args.seconds, e)
        row(f"torch cpu fp32, {torch.get_num_threads()} threads", size_name, w, h, fps, cpu_roof)
        roof_before = cpu_roof()
        fps = fps_parallel(cppn, w, h, args.seconds, e)
        row(f"torch cpu fp32, {os.cpu_count()} frames at once", size_name, w, h, fps, cpu_roof)

    gl_name = "gl (no EGL context)"
    try:
        from engine.render import GLRenderer

        gl = GLRenderer(cppn)
        gl_name = f"gl {gl.ctx.info['GL_RENDERER']}"
        per_px = None  # seconds per pixel at the size before
        for size_name, w, h in SIZES:
            if per_px is not None and per_px * w * h > 20:  # keep the bench short
                row(gl_name, size_name, w, h, 1 / (per_px * w * h), roof0,
                    "extrapolated from the size before (cost ∝ pixels)")
                continue
            roof_before = cpu_roof()
            fps = fps_single(gl, w, h, args.seconds, e, warm=per_px is None)
            per_px = 1 / fps / (w * h)
            row(gl_name, size_name, w, h, fps, cpu_roof)
        gl.release()
    except GLUnavailable as exc:
        print(f"GL: {exc}")

    # reduced precision on the CPU (and its error against fp32)
    p = params(3, e)
    ref = tr.render(p, 256, 256).astype(int)
    for dt in (torch.float16, torch.bfloat16):
        r = TorchRenderer(cppn, dtype=dt)
        err = int(np.abs(r.render(p, 256, 256).astype(int) - ref).max())
        roof_before = cpu_roof()
        fps = fps_single(r, 256, 256, args.seconds, e)
        row(f"torch cpu {str(dt)[6:]}, {torch.get_num_threads()} threads", "256²", 256, 256,
            fps, cpu_roof, f"max diff vs fp32 {err}/255 (roof: fp32 matmul)")

    cuda_roof = None
    if torch.cuda.is_available():
        cuda_roof = roof("cuda")
        for dt in (torch.float32, torch.float16):
            r = TorchRenderer(cppn, device="cuda", dtype=dt)
            for size_name, w, h in SIZES:
                row(f"torch cuda {str(dt)[6:]}", size_name, w, h,
                    fps_single(r, w, h, args.seconds, e, cuda=True), cuda_roof)
    roof1 = roof()

    lines = [
        f"\n## Rendering (bench/render.py, {date.today().isoformat()})\n",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), torch {torch.__version__}, "
        f"{gl_name}; the default 4x128 CPPN ({flop / 1e3:.1f} kFLOP per pixel). fp32 matmul "
        f"roof (16384x128 @ 128x128; the better of one matmul on all threads and one per core "
        f"at once) at the start of the run {roof0:.1f} GFLOP/s, at the end {roof1:.1f}"
        + (f"; CUDA fp32 roof {cuda_roof:.0f} GFLOP/s" if cuda_roof else "") + ".\n",
        "Each row's roof is measured just before and after it (mean); GFLOP/s counts the "
        "matmuls only (the 512 sines per pixel are extra work).\n",
        "| renderer | size | frames/s | GFLOP/s | roof GFLOP/s | of roof | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, size_name, fps, gf, frac, rf, note in rows:
        lines.append(f"| {name} | {size_name} | {fps:.3g} | {gf:.1f} | {rf:.0f} | {frac:.0%} "
                     f"| {note} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_readme:
        with open(ROOT / "bench" / "README.md", "a", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
