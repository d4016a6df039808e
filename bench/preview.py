"""Live-preview frame rate by path (torch / GL shader) and resolution, and the internal
resolution the adaptive preview settles on to hold its target frame rate.

    .venv/bin/python bench/preview.py [--quick] [--target-fps 24]

The GL figures use a headless EGL context running the same shader as the app's
QOpenGLWidget (drawing into an offscreen framebuffer, then ``finish()``, as the preview
does); on a machine without a GPU that is Mesa's llvmpipe. Sizes whose frame would take
longer than a few seconds are extrapolated from the smaller ones and marked ``~``.
The fp32 matmul rate measured in the same run is the roof for the torch path.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.cppn.model import CPPN  # noqa: E402
from engine.reactive import FrameParams  # noqa: E402
from engine.render.base import Weights  # noqa: E402
from engine.render.torch_renderer import TorchRenderer  # noqa: E402
from engine.runtime import tune_allocator  # noqa: E402

SIZES = [(256, 256), (512, 512), (1280, 720), (1920, 1080)]
MAX_FRAME_S = 4.0


def matmul_roof() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def frame_seconds(fn, budget: float = 1.5, max_runs: int = 8) -> float:
    fn()  # warm-up
    runs, start = 0, time.perf_counter()
    best = math.inf
    while runs < max_runs:
        best = min(best, _time(fn))
        runs += 1
        if time.perf_counter() - start > budget:
            break
    return best


def sweep(render, sizes, flops_px: int) -> list[dict]:
    rows, rate = [], None  # rate: seconds per pixel from the last measured size
    for w, h in sizes:
        px = w * h
        if rate is not None and rate * px > MAX_FRAME_S:
            rows.append({"size": f"{w}x{h}", "fps": 1 / (rate * px), "estimated": True,
                         "gflops": flops_px * px * 1 / (rate * px) / 1e9})
            continue
        s = frame_seconds(lambda w=w, h=h: render(w, h))
        rate = s / px
        rows.append({"size": f"{w}x{h}", "fps": 1 / s, "estimated": False,
                     "gflops": flops_px * px / s / 1e9})
    return rows


def parallel_fps(make_render, size, workers: int, max_seconds: float = 10.0) -> float:
    """Frames per second with ``workers`` single-threaded renderers drawing side by side
    (what the app's torch preview does on a multi-core CPU): the sum of each renderer's
    own rate, measured while all of them are busy."""
    import threading

    times: list[list[float]] = [[] for _ in range(workers)]
    start = threading.Barrier(workers)
    deadline = time.perf_counter() + max_seconds

    def loop(i):
        torch.set_num_threads(1)  # per thread
        render = make_render()
        render(*size)  # warm-up
        start.wait()
        while len(times[i]) < 3 and time.perf_counter() < deadline:
            times[i].append(_time(lambda: render(*size)))

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(1 / (sum(t) / len(t)) for t in times if t)


def settle_app(view=(1280, 720), target_fps: float = 24.0, seconds: float = 6.0) -> dict:
    """The app's own torch preview widget (offscreen Qt), driven at the target rate."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.stage.preview import RasterView
    from engine.reactive import latent_walk

    app = QApplication.instance() or QApplication([])
    v = RasterView(int(target_fps))
    v.resize(*view)
    v.show()
    v.set_cppn(CPPN(seed=0))
    t0 = time.perf_counter()

    def tick():
        e = latent_walk(np.array([(time.perf_counter() - t0) * 0.1]), 9, 0)[0] * 0.3
        v.draw(FrameParams(extras=e.astype(np.float32)))

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(int(1000 / target_fps))
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    w, h = v.render_size
    result = {"internal": f"{w}x{h}", "fps": v.meter.fps, "workers": len(v.threads)}
    v.shutdown()
    app.processEvents()
    return result


def settle(render, view=(1280, 720), target_fps: float = 24.0, seconds: float = 6.0) -> dict:
    """Run the app's adaptive-resolution loop against ``render`` for a few seconds."""
    from app.stage.preview import AdaptiveScale

    scale = AdaptiveScale(target_fps)
    start, frames, last = time.perf_counter(), 0, None
    while time.perf_counter() - start < seconds:
        w, h = scale.size_for(*view)
        dt = _time(lambda w=w, h=h: render(w, h))
        scale.update(dt, w * h)
        frames += 1
        last = (w, h, dt)
    w, h, dt = last
    return {"view": f"{view[0]}x{view[1]}", "internal": f"{w}x{h}", "fps": 1 / dt,
            "frames": frames}


def gl_renderer(cppn):
    try:
        from app.stage.glview import preload_llvm_users

        preload_llvm_users()  # see app.stage.glview: triton after llvmpipe segfaults
        from engine.render.gl_renderer import GLRenderer

        gl = GLRenderer(cppn)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return None, str(exc).splitlines()[0]
    ctx = gl.ctx
    fbos: dict = {}

    def render(w, h):  # what the preview does: draw into a texture FBO, wait for it
        if (w, h) not in fbos:
            tex = ctx.texture((w, h), 4)
            fbos[(w, h)] = ctx.framebuffer(color_attachments=[tex])
        gl.render_to(fbos[(w, h)], params, w, h)
        ctx.finish()

    params = FrameParams.neutral(cppn.config.extra_inputs)
    return (gl, render), gl.description


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="two sizes, short settle")
    ap.add_argument("--target-fps", type=float, default=24.0)
    args = ap.parse_args()
    tune_allocator()
    sizes = SIZES[:2] if args.quick else SIZES
    cppn = CPPN(seed=0)  # 4 x 128, the default; every style of that shape costs the same
    flops_px = Weights.from_cppn(cppn).flops_per_pixel()
    params = FrameParams.neutral(cppn.config.extra_inputs)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"CPPN 4x128 = {flops_px} FLOP/pixel")
    roof = matmul_roof()
    print(f"fp32 matmul roof (2048^2, this run): {roof:.0f} GFLOP/s\n")

    tr = TorchRenderer(cppn)
    paths = {"torch": (lambda w, h: tr.render(params, w, h), tr.description)}
    glr, desc = gl_renderer(cppn)
    if glr is not None:
        paths["gl"] = (glr[1], desc)
    else:
        print(f"GL path unavailable: {desc}\n")

    print("| path | renderer | size | frames/s | GFLOP/s |")
    print("|---|---|---|---|---|")
    for name, (render, desc) in paths.items():
        for row in sweep(render, sizes, flops_px):
            mark = "~" if row["estimated"] else ""
            print(f"| {name} | {desc} | {row['size']} | {mark}{row['fps']:.2f} | "
                  f"{mark}{row['gflops']:.0f} |")
    workers = max(1, min(4, __import__("os").cpu_count() or 1))
    print(f"\ntorch, {workers} single-threaded renderers side by side (the app's preview):\n")
    print("| size | frames/s | GFLOP/s |")
    print("|---|---|---|")
    def make_render():
        r = TorchRenderer(cppn)
        return lambda width, height: r.render(params, width, height)

    for w, h in sizes[:2]:
        f = parallel_fps(make_render, (w, h), workers)
        print(f"| {w}x{h} | {f:.2f} | {f * flops_px * w * h / 1e9:.0f} |")
    secs = 3.0 if args.quick else 6.0
    print(f"\nAdaptive preview at a {args.target_fps:g} fps target "
          "(internal size the loop settles on for a 1280x720 view):\n")
    print("| path | internal size | frames/s |")
    print("|---|---|---|")
    r = settle_app(target_fps=args.target_fps, seconds=secs)
    print(f"| torch (app widget, {r['workers']} renderers) | {r['internal']} | {r['fps']:.1f} |")
    if "gl" in paths:
        r = settle(paths["gl"][0], target_fps=args.target_fps, seconds=secs)
        print(f"| gl (same loop, EGL) | {r['internal']} | {r['fps']:.1f} |")
    if glr is not None:
        glr[0].release()


if __name__ == "__main__":
    main()
