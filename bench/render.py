"""Renderer speed: frames per second of the GL shader and the torch renderer at 256², 512²,
720p and 1080p, with the achieved GFLOP/s against the fp32 matmul roof measured in the
same run (before and after: the machine is shared and noisy).

Rows:
* torch, 2 threads: one frame at a time on torch's intra-op threads
* torch, frame-parallel: one single-threaded renderer per core, whole frames in parallel
  (the export's and the live preview's way on a CPU), throughput in frames per second
* gl: the fragment shader on whatever OpenGL EGL gives (llvmpipe without a GPU)
* fp16 on the CPU at 256², against fp32
* cuda fp32 / fp16 when a GPU is present

A second table (``--only precision`` runs just that one) puts the fp32 torch renderer
beside the two bf16 kernels on the CPU (inductor's per layer, engine.render.bf16, and the
fused AMX one, engine.render.amx): the matmul roofs of both types on all threads and on
one (CPPN-shaped 65536x128 @ 128x128 and square 2048²), what the AMX kernel's parts cost
(profiling builds without the sine / the tile products), the kernels' start-up, then
s/frame at 256² and 720p four ways — one frame on all torch threads (wall, and CPU of all
threads: the gap is threads waiting for each other), one single-threaded renderer per core
(the export's and the preview's way; throughput), and CPU seconds of one single-threaded
frame (what the frame costs, whatever else runs) — and the shipped bf16 frame's error
against fp32 on every bundled style at 720p, against both error budgets. Every figure is
the best of 3 repeats with the paths alternating, so a busy moment hurts all alike; the
ratios are the trustworthy part on a shared machine. The load average is printed before
and after.

    .venv/bin/python bench/render.py [--seconds 3] [--no-readme] [--only precision]
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


def fps_parallel(cppn, w, h, seconds, e, dtype=torch.float32, amx_kernel=True,
                 bf16x3=False) -> float:
    """Frames per second with one single-threaded renderer per core (the export's way)."""
    workers = os.cpu_count() or 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    done = [0] * workers
    stop = time.perf_counter() + seconds

    def work(k):
        r = TorchRenderer(cppn, chunk=4096, dtype=dtype, amx_kernel=amx_kernel, bf16x3=bf16x3)
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


def _load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def matmul_roofs() -> dict[tuple[str, str, int], float]:
    """GFLOP/s of one matmul, best of 3, for both types and shapes, on all torch threads
    (wall clock) and on one (in the thread's CPU time, like the one-thread frame rows: the
    roof a single-threaded renderer works against, whatever else runs)."""
    out = {}
    threads = torch.get_num_threads()
    for shape, (m, k, n) in (("65536x128 @ 128x128", (65536, 128, 128)),
                             ("2048² @ 2048²", (2048, 2048, 2048))):
        for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            a, b = torch.randn(m, k).to(dt), torch.randn(k, n).to(dt)
            c = torch.empty(m, n, dtype=dt)
            for nt in sorted({threads, 1}, reverse=True):
                torch.set_num_threads(nt)
                torch.mm(a, b, out=c)
                reps = 3 if m * n * k > 1e9 else 10
                t = _best_of(lambda a=a, b=b, c=c, reps=reps: [torch.mm(a, b, out=c)
                                                               for _ in range(reps)],
                             clock=time.thread_time if nt == 1 else time.perf_counter)
                out[(shape, name, nt)] = 2 * m * n * k * reps / t / 1e9
    torch.set_num_threads(threads)
    return out


def kernel_parts(cppn) -> dict[str, float] | None:
    """CPU seconds of one single-threaded 720p frame of the AMX kernel and of its
    profiling builds without the sine and/or the tile products (wrong pictures; they price
    the parts). Best of 3, alternating. None where the kernel cannot run."""
    from engine.render import amx
    from engine.render.base import window_for

    if amx.unavailable_reason() is not None:
        return None
    builds = {"whole kernel": None, "without the sine": ("SONO_NO_SINE",),
              "without the tile matmuls": ("SONO_NO_MATMUL",),
              "without either (coordinates, first-layer FMAs, casts, colour, stores)":
                  ("SONO_NO_SINE", "SONO_NO_MATMUL")}
    weights = TorchRenderer(cppn).weights
    kernels = {k: amx.AmxCppn(weights, lib=amx.profiling_build(*d) if d else None)
               for k, d in builds.items()}
    p = params(9, cppn.config.extra_inputs)
    fast = TorchRenderer(cppn, dtype=torch.bfloat16)
    b0 = fast._first_bias(p).numpy()
    out = np.empty((1280 * 720, 3), np.uint8)
    best = dict.fromkeys(kernels, float("inf"))
    for _ in range(REPEATS):
        for name, k in kernels.items():
            t = time.thread_time()
            k.frame(b0, p.coord_matrix().T, (p.warp, p.warp_phase), p.color_matrix().T,
                    window_for(1280, 720), 1280, 720, out, threads=1)
            best[name] = min(best[name], time.thread_time() - t)
    return best


def _cold_amx_build_seconds() -> float | None:
    """Seconds to build the AMX kernel into an empty cache (what a first start pays)."""
    import tempfile

    from engine.render import amx

    if amx.unavailable_reason() is not None:
        return None
    with tempfile.TemporaryDirectory() as d:
        old = os.environ.get("SONOLUME_CACHE_DIR")
        os.environ["SONOLUME_CACHE_DIR"] = d
        try:
            t = time.perf_counter()
            amx._build(amx._compiler())
            return time.perf_counter() - t
        finally:
            if old is None:
                os.environ.pop("SONOLUME_CACHE_DIR", None)
            else:
                os.environ["SONOLUME_CACHE_DIR"] = old


def precision_section(cppn, seconds: float) -> list[str]:
    """The fp32-vs-bf16 table (see the module docstring)."""
    from engine.render import amx
    from engine.render.bf16 import bf16_hardware, frame_error
    from engine.render.factory import FAST_BUDGET, STRICT_BUDGET
    from engine.styles.style import read_style

    load_before = _load()
    e = cppn.config.extra_inputs
    hw = bf16_hardware()
    why_not = amx.unavailable_reason()
    threads = torch.get_num_threads()
    cores = os.cpu_count() or 1
    flop = TorchRenderer(cppn).weights.flops_per_pixel() * 1280 * 720
    lines = [f"\n### fp32 vs bf16 on the CPU (bench/render.py, {date.today().isoformat()})\n",
             f"bf16 hardware: {hw or 'none (bf16 is emulated: the factory keeps fp32)'}; "
             f"AMX kernel: {'yes' if why_not is None else why_not}; {cores} cores, torch "
             f"{torch.__version__}, {threads} torch threads. Best of {REPEATS} repeats, the "
             f"paths alternating, in one run. Load average before: {load_before}.\n",
             "| matmul | threads (clock) | fp32 GFLOP/s | bf16 GFLOP/s | bf16/fp32 |",
             "|---|---|---|---|---|"]
    roofs = matmul_roofs()
    for shape in ("65536x128 @ 128x128", "2048² @ 2048²"):
        for nt in sorted({threads, 1}, reverse=True):
            f, b = roofs[(shape, "fp32", nt)], roofs[(shape, "bf16", nt)]
            clock = "CPU" if nt == 1 else "wall"
            lines.append(f"| {shape} | {nt} ({clock}) | {f:.0f} | {b:.0f} | {b / f:.1f}x |")
            print(lines[-1], flush=True)
    roof1 = roofs[("65536x128 @ 128x128", "bf16", 1)]
    lines += ["", f"A 720p frame of this CPPN is {flop / 1e9:.0f} GFLOP of matmuls: "
              f"{flop / 1e9 / roof1:.3f} s at the one-thread bf16 roof above.", ""]

    parts = kernel_parts(cppn)
    if parts:
        lines += ["| AMX kernel build (profiling switches) | CPU s per 720p frame, 1 thread |",
                  "|---|---|"]
        for name, cost in parts.items():
            lines.append(f"| {name} | {cost:.3f} |")
            print(lines[-1], flush=True)
        lines.append("")

    cold = _cold_amx_build_seconds()
    paths = {"fp32": TorchRenderer(cppn)}
    t0 = time.perf_counter()
    paths["bf16 inductor"] = TorchRenderer(cppn, dtype=torch.bfloat16, amx_kernel=False)
    torch.set_num_threads(1)
    paths["bf16 inductor"].render(params(0, e), 64, 64)
    torch.set_num_threads(threads)
    paths["bf16 inductor"].render(params(0, e), 64, 64)
    inductor_s = time.perf_counter() - t0
    if why_not is None:
        paths["bf16 AMX"] = TorchRenderer(cppn, dtype=torch.bfloat16)
        paths["bf16x3 AMX"] = TorchRenderer(cppn, dtype=torch.bfloat16, bf16x3=True)
    names = list(paths)
    best_bf16 = "bf16 AMX" if why_not is None else "bf16 inductor"
    ratios = [(a, b) for a, b in (("fp32", best_bf16), ("bf16 inductor", "bf16 AMX"),
                                  ("fp32", "bf16x3 AMX")) if a in paths and b in paths]
    lines += ["Kernel start-up: AMX kernel built from cold in "
              + (f"{cold:.1f} s" if cold is not None else "— (not here)")
              + f"; inductor's kernels (1 and {threads} threads) compiled or loaded in "
              f"{inductor_s:.1f} s (15-55 s cold on a busy 2-core machine; its disk cache "
              "makes later starts a few seconds).", "",
              "| size | way | " + " | ".join(f"{n} s/frame" for n in names) + " | "
              + " | ".join(f"{a}/{b}" for a, b in ratios) + " |",
              "|---|---|" + "---|" * (len(names) + len(ratios))]

    def row(size_name, way, t):
        cells = " | ".join(f"{t[n]:.3f}" for n in names)
        rs = " | ".join(f"{t[a] / t[b]:.2f}x" for a, b in ratios)
        lines.append(f"| {size_name} | {way} | {cells} | {rs} |")
        print(lines[-1], flush=True)

    def kind(name):
        return dict(dtype=torch.float32 if name == "fp32" else torch.bfloat16,
                    amx_kernel=name != "bf16 inductor", bf16x3=name == "bf16x3 AMX")

    for size_name, w, h in (("256²", 256, 256), ("720p", 1280, 720)):
        p = params(5, e)
        for r in paths.values():
            r.render(p, w, h)
        wall = dict.fromkeys(names, float("inf"))
        cpu = dict.fromkeys(names, float("inf"))
        for _ in range(REPEATS):
            for name, r in paths.items():
                t, c = time.perf_counter(), time.process_time()
                r.render(p, w, h)
                wall[name] = min(wall[name], time.perf_counter() - t)
                cpu[name] = min(cpu[name], time.process_time() - c)
        row(size_name, f"one frame on {threads} threads, wall s", wall)
        row(size_name, f"one frame on {threads} threads, CPU s of all threads", cpu)
        best = dict.fromkeys(names, 0.0)
        for _ in range(REPEATS):
            for name in names:
                best[name] = max(best[name], fps_parallel(cppn, w, h, seconds / 2, e,
                                                          **kind(name)))
        row(size_name, f"{cores} frames at once, 1 thread each, wall s per frame",
            {k: 1 / v for k, v in best.items()})
        torch.set_num_threads(1)
        one = dict.fromkeys(names, float("inf"))
        for _ in range(REPEATS):
            for name, r in paths.items():
                one[name] = min(one[name], _once(r, p, w, h, time.thread_time))
        torch.set_num_threads(threads)
        row(size_name, "CPU s of one frame, 1 thread", one)

    fast = paths[best_bf16]
    x3 = paths.get("bf16x3 AMX")
    fp32 = paths["fp32"]
    lines += ["", f"Error against fp32 at 720p of the {best_bf16} frame (the preview and "
              "`fast`) and of the bf16x3 frame (what `standard`/`high` may use), in 1/255 "
              "steps; block shift: the largest mean signed error over 16x16 blocks; false "
              "steps: neighbour steps that differ from fp32's by >= 3/255. fast: within the "
              f"preview/`fast` budget ({FAST_BUDGET}); strict: within the `standard`/`high` "
              f"one, the GL-vs-torch tolerance ({STRICT_BUDGET}).", "",
              "| style | bf16 p99.9 | max | mean | block shift | false steps | fast | strict "
              "| bf16x3 p99.9 | max | block shift | strict |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    styles = [("CPPN(seed=1)", cppn)]
    styles += [(d.name, read_style(d).load_cppn())
               for d in sorted((ROOT / "styles").iterdir()) if (d / "style.json").is_file()]
    for name, net in styles:
        p = params(7, net.config.extra_inputs)
        fp32.set_cppn(net)
        ref = fp32.render(p, 1280, 720)
        fast.set_cppn(net)
        err = frame_error(fast.render(p, 1280, 720), ref)
        ok = {b: "yes" if b.admits(err) else "no" for b in (FAST_BUDGET, STRICT_BUDGET)}
        cells = "— | — | — | —"
        if x3 is not None:
            x3.set_cppn(net)
            e3 = frame_error(x3.render(p, 1280, 720), ref)
            cells = (f"{e3.p999:.0f} | {e3.max:.0f} | {e3.shift:.2f} | "
                     f"{'yes' if STRICT_BUDGET.admits(e3) else 'no'}")
        lines.append(f"| {name} | {err.p999:.0f} | {err.max:.0f} | {err.mean:.2f} | "
                     f"{err.shift:.2f} | {err.steps:.2%} | {ok[FAST_BUDGET]} | "
                     f"{ok[STRICT_BUDGET]} | {cells} |")
        print(lines[-1], flush=True)
    lines += ["", f"Load average before: {load_before}; after: {_load()}."]
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
