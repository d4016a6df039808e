"""Seconds per training step: per preset and CLIP model, split into the CPPN's share and
CLIP's share, next to the machine's fp32 matmul rate measured in the same run.

CLIP models use random weights (open_clip's configs, pretrained=None): the compute is the
same as with real weights, and no download is needed.

    .venv/bin/python bench/train_step.py [--quick] [--models RN50,ViT-B-32,ViT-S-32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.clip.loader import ClipSpec  # noqa: E402
from engine.clip.model import ClipModel  # noqa: E402
from engine.cppn.model import CPPN, coordinate_grid  # noqa: E402
from engine.cppn.train import PRESETS, Prompt, TrainConfig, Trainer  # noqa: E402
from engine.runtime import tune_allocator  # noqa: E402


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def matmul_roof() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    return 2 * 2048**3 / best(lambda: a @ b, 5) / 1e9


def shaped_roof(pixels: int = 65536, width: int = 128) -> float:
    """The matmul rate for the CPPN's own mix: (pixels x 128) @ (128 x 128) twice (forward,
    input gradient) and once the weight gradient (128 x pixels) @ (pixels x 128). Skinny
    matmuls run below the square-matrix roof on any BLAS: this is the roof the CPPN can
    actually reach."""
    x, w = torch.randn(pixels, width), torch.randn(width, width)
    fwd = best(lambda: x @ w, 5)
    grad = best(lambda: x.T @ x, 5)
    return 3 * 2 * pixels * width * width / (2 * fwd + grad) / 1e9


def cppn_flops(cppn: CPPN, pixels: int) -> float:
    """Multiply-adds of forward (x2 FLOPs) and backward (~2x forward) for one image."""
    macs = sum(layer.in_features * layer.out_features for layer in cppn.hidden)
    macs += cppn.out.in_features * 3
    return 3 * 2 * macs * pixels


def random_clip(name: str) -> ClipModel:
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None)
    return ClipModel(model, open_clip.get_tokenizer(name), ClipSpec(model=name), name=name,
                     random=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="RN50,ViT-B-32,ViT-S-32")
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no torch.compile")
    ap.add_argument("--cppn-only", action="store_true", help="only the CPPN and the roofs")
    args = ap.parse_args()
    tune_allocator()
    repeat = 2 if args.quick else 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    roof = matmul_roof()
    shaped = shaped_roof()
    print(f"fp32 matmul roof (2048^2): {roof:.0f} GFLOP/s; CPPN-shaped (65536x128 @ 128x128 "
          f"and its weight gradient): {shaped:.0f} GFLOP/s\n")

    cppn = CPPN(seed=0)
    print("CPPN 4x128 forward+backward alone")
    for res in (192, 256, 512):
        grid = coordinate_grid(res, res, None, 9)

        def fwd_bwd(grid=grid):
            out = cppn(grid)
            out.backward(torch.ones_like(out))

        t = best(fwd_bwd, repeat)
        rate = cppn_flops(cppn, res * res) / t / 1e9
        print(f"  {res:4d}^2: {t:6.3f} s  {rate:5.0f} GFLOP/s = roof / {roof / rate:.2f}, "
              f"shaped roof / {shaped / rate:.2f}")
    if args.cppn_only:
        return

    rows = []
    for name in args.models.split(","):
        clip = random_clip(name)
        for preset, spec in PRESETS.items():
            for iters, res in spec["schedule"]:
                cfg = TrainConfig.from_preset(preset, [Prompt("a test prompt")],
                                              schedule=[(1000, res)], compile=False)
                trainer = Trainer(cfg, clip)
                step = best(trainer.step, repeat)
                grid = coordinate_grid(res, res, None, 9)

                def fwd_bwd(grid=grid, m=trainer.cppn):
                    out = m(grid)
                    out.backward(torch.ones_like(out))

                share = best(fwd_bwd, repeat)
                rows.append((name, preset, res, cfg.cutouts, iters, step, share))
                print(f"{name:9s} {preset:8s} {res:4d}^2 x{cfg.cutouts} cutouts: step "
                      f"{step:6.3f} s  CPPN {share / step:4.0%}  "
                      f"CLIP+crops {1 - share / step:4.0%}")
    print("\nEstimated preset wall time (eager, steps x measured step):")
    for name in args.models.split(","):
        for preset in PRESETS:
            total = sum(it * st for n, p, _, _, it, st, _ in rows if n == name and p == preset)
            print(f"  {name:9s} {preset:8s} {total / 60:6.1f} min")

    if not args.quick:
        print("\ntorch.compile (CPPN + image tower), RN50, standard preset stages:")
        clip = random_clip("RN50")
        total = 0.0
        for iters, res in PRESETS["standard"]["schedule"]:
            cfg = TrainConfig.from_preset("standard", [Prompt("a test prompt")],
                                          schedule=[(1000, res)])
            trainer = Trainer(cfg, clip)
            t = time.perf_counter()
            trainer.step()
            first = time.perf_counter() - t
            step = best(trainer.step, repeat)
            eager = next(st for n, p, r, _, _, st, _ in rows
                         if n == "RN50" and p == "standard" and r == res)
            total += iters * step
            print(f"  {res:4d}^2: first step {first:5.1f} s (compiling), then {step:6.3f} s/step "
                  f"= {eager / step:.2f}x eager")
        print(f"  standard preset, RN50, compiled: ~{total / 60:.1f} min + compile")


if __name__ == "__main__":
    main()
