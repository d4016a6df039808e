"""Renderer speed: frames per second of the GL shader and the torch renderer at 256², 512²,
720p and 1080p, with the achieved GFLOP/s against the fp32 matmul roof measured in the
same run (before and after: the machine is shared and noisy).

Rows:
* torch, 2 threads: one frame at a time, torch's intra-op threads (the live preview's way)
* torch, frame-parallel: one single-threaded renderer per core, whole frames in parallel
  (the export's way on a CPU), throughput in frames per second
* gl: the fragment shader on whatever OpenGL EGL gives (llvmpipe without a GPU)
* fp16 on the CPU at 256², against fp32
* cuda fp32 / fp16 when a GPU is present

A second table (``--only precision`` runs just that one) puts the fp32 torch renderer
beside the bf16 one (engine.render.bf16) on the CPU: the matmul roofs of both types
(CPPN-shaped 65536x128 @ 128x128 and square 2048²), the sine on its own (torch's vs the
fused polynomial), then s/frame at 256² and 720p three ways — one frame on all torch
threads (the preview), one single-threaded renderer per core (the export; throughput),
and CPU seconds of one single-threaded frame (what the frame costs, whatever else runs) —
and the bf16 frames' error against fp32 on every bundled style at 720p. Every figure is
the best of 3 repeats with fp32 and bf16 alternating, so a busy moment hurts both alike;
the ratios are the trustworthy part on a shared machine.

    .venv/bin/python bench/render.py [--seconds 3] [--no-readme] [--only precision]
"""

from __future__ import annotations

import argparse
import functools
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


def fps_parallel(cppn, w, h, seconds, e, dtype=torch.float32) -> float:
    """Frames per second with one single-threaded renderer per core (the export's way)."""
    workers = os.cpu_count() or 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    done = [0] * workers
    stop = time.perf_counter() + seconds

    def work(k):
        r = TorchRenderer(cppn, chunk=4096, dtype=dtype)
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


REPEATS = 3


def _best_of(fn, repeats=REPEATS, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def _once(renderer, p, w, h, clock) -> float:
    t = clock()
    renderer.render(p, w, h)
    return clock() - t


def matmul_roofs() -> dict[tuple[str, str], float]:
    """GFLOP/s of one matmul on all torch threads, best of 3, for both types and shapes."""
    out = {}
    for shape, (m, k, n) in (("65536x128 @ 128x128", (65536, 128, 128)),
                             ("2048² @ 2048²", (2048, 2048, 2048))):
        for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            a, b = torch.randn(m, k).to(dt), torch.randn(k, n).to(dt)
            c = torch.empty(m, n, dtype=dt)
            torch.mm(a, b, out=c)
            reps = 3 if m * n * k > 1e9 else 10
            t = _best_of(lambda a=a, b=b, c=c, reps=reps: [torch.mm(a, b, out=c)
                                                           for _ in range(reps)])
            out[(shape, name)] = 2 * m * n * k * reps / t / 1e9
    return out


def _no_sine(z):
    return z


def sine_costs(cppn) -> dict[str, float]:
    """CPU seconds of one single-threaded 720p bf16 frame with each activation in the
    fused kernel: the polynomial (what ships), torch's sin (Sleef), and none at all (a
    wrong picture; it prices the matmuls and the rest). Best of 3, alternating."""
    from engine.render import bf16

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    fast = TorchRenderer(cppn, dtype=torch.bfloat16)
    p = params(9, cppn.config.extra_inputs)
    fn = bf16.compiled_chunk_rgb()
    variants = {"polynomial sine (shipped)": bf16.fast_sin, "torch.sin (Sleef, 1 ulp)": torch.sin,
                "no sine (timing only)": _no_sine}
    best = dict.fromkeys(variants, float("inf"))
    try:
        for _ in range(REPEATS + 1):  # the first round compiles each variant
            for name, sine in variants.items():
                bf16._compiled = functools.partial(fn, sine=sine)
                best[name] = min(best[name], _once(fast, p, 1280, 720, time.thread_time))
    finally:
        bf16._compiled = fn
        torch.set_num_threads(threads)
    return best


def precision_section(cppn, seconds: float) -> list[str]:
    """The fp32-vs-bf16 table (see the module docstring)."""
    from engine.render.bf16 import bf16_hardware, frame_error
    from engine.styles.style import read_style

    e = cppn.config.extra_inputs
    hw = bf16_hardware()
    lines = [f"\n### fp32 vs bf16 on the CPU (bench/render.py, {date.today().isoformat()})\n",
             f"bf16 hardware: {hw or 'none (bf16 is emulated: the factory keeps fp32)'}; "
             f"{os.cpu_count()} cores, torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch threads. Best of {REPEATS} repeats, fp32 and "
             "bf16 alternating, in one run.\n",
             "| matmul | fp32 GFLOP/s | bf16 GFLOP/s | bf16/fp32 |", "|---|---|---|---|"]
    roofs = matmul_roofs()
    for shape in ("65536x128 @ 128x128", "2048² @ 2048²"):
        f, b = roofs[(shape, "fp32")], roofs[(shape, "bf16")]
        lines.append(f"| {shape} | {f:.0f} | {b:.0f} | {b / f:.1f}x |")
        print(lines[-1], flush=True)
    lines += ["", "| activation in the fused bf16 kernel | CPU s per 720p frame, 1 thread |",
              "|---|---|"]
    for name, cost in sine_costs(cppn).items():
        lines.append(f"| {name} | {cost:.3f} |")
        print(lines[-1], flush=True)

    fp32 = TorchRenderer(cppn)
    fast = TorchRenderer(cppn, dtype=torch.bfloat16)
    t0 = time.perf_counter()
    fast.render(params(0, e), 64, 64)
    compile_s = time.perf_counter() - t0
    lines += ["", f"bf16 kernel compile + first frame: {compile_s:.1f} s (inductor caches it on "
              "disk; later runs load it).", "",
              "| size | way | fp32 s/frame | bf16 s/frame | fp32/bf16 |", "|---|---|---|---|---|"]
    threads = torch.get_num_threads()
    for size_name, w, h in (("256²", 256, 256), ("720p", 1280, 720)):
        p = params(5, e)
        for r in (fp32, fast):
            r.render(p, w, h)
        ways = {}
        best = {"fp32": float("inf"), "bf16": float("inf")}
        for _ in range(REPEATS):
            for name, r in (("fp32", fp32), ("bf16", fast)):
                best[name] = min(best[name], _once(r, p, w, h, time.perf_counter))
        ways[f"one frame, {threads} threads (preview)"] = dict(best)
        best = {"fp32": 0.0, "bf16": 0.0}
        for _ in range(REPEATS):
            for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                best[name] = max(best[name], fps_parallel(cppn, w, h, seconds / 2, e, dt))
        ways[f"{os.cpu_count()} frames at once, 1 thread each (export)"] = {
            k: 1 / v for k, v in best.items()}
        torch.set_num_threads(1)
        best = {"fp32": float("inf"), "bf16": float("inf")}
        for _ in range(REPEATS):
            for name, r in (("fp32", fp32), ("bf16", fast)):
                best[name] = min(best[name], _once(r, p, w, h, time.thread_time))
        torch.set_num_threads(threads)
        ways["CPU seconds of one frame, 1 thread"] = best
        for way, t in ways.items():
            lines.append(f"| {size_name} | {way} | {t['fp32']:.3f} | {t['bf16']:.3f} | "
                         f"{t['fp32'] / t['bf16']:.2f}x |")
            print(lines[-1], flush=True)

    lines += ["", "Error of the bf16 frame against fp32 at 720p (1/255 steps; block shift: the "
              "largest mean signed error over 16x16 blocks; false steps: neighbour steps "
              "that differ from fp32's by >= 3/255):", "",
              "| style | p99.9 | max | mean | block shift | false steps |",
              "|---|---|---|---|---|---|"]
    styles = [("CPPN(seed=1)", cppn)]
    styles += [(d.name, read_style(d).load_cppn())
               for d in sorted((ROOT / "styles").iterdir()) if (d / "style.json").is_file()]
    for name, net in styles:
        p = params(7, net.config.extra_inputs)
        fp32.set_cppn(net)
        fast.set_cppn(net)
        err = frame_error(fast.render(p, 1280, 720), fp32.render(p, 1280, 720))
        lines.append(f"| {name} | {err.p999:.0f} | {err.max:.0f} | {err.mean:.2f} | "
                     f"{err.shift:.2f} | {err.steps:.2%} |")
        print(lines[-1], flush=True)
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--only", choices=["precision"], help="run only the fp32-vs-bf16 table")
    args = ap.parse_args()
    tune_allocator()
    cppn = CPPN(seed=1)  # the default 4x128 network with 9 extra inputs
    if args.only == "precision":
        text = "\n".join(precision_section(cppn, args.seconds)) + "\n"
        print(text)
        if not args.no_readme:
            with open(ROOT / "bench" / "README.md", "a", encoding="utf-8") as f:
                f.write(text)
        return 0
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

    # fp16 on the CPU (and its error against fp32); bf16 has its own table below
    p = params(3, e)
    ref = tr.render(p, 256, 256).astype(int)
    for dt in (torch.float16,):
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
    if torch.device("cpu") == torch.device(str(tr.device)):
        lines += precision_section(cppn, args.seconds)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_readme:
        with open(ROOT / "bench" / "README.md", "a", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
