"""Spatial CLIP maps: patches per second through CLIP per model, and the memory one map of
a 1080p frame takes (32 patches of 448 px at stride 224), next to the machine's fp32
matmul rate measured in the same run.

CLIP models use random weights (open_clip configs, pretrained=None): the compute is the
same as with real weights and nothing is downloaded. "tiny" is the test suite's 64-px
config. Each model runs in its own process so its peak memory is its own.

    .venv/bin/python bench/spatial.py [--quick] [--models tiny,RN50,ViT-B-32,ViT-S-32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)
        return True
    except OSError:
        return False


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _frame(w: int, h: int):
    import numpy as np

    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                    (x + y) % 256], axis=-1)
    return img.astype(np.uint8)


def one_model(name: str, repeat: int) -> dict:
    import torch

    from engine.clip import ClipSpec, load_clip
    from engine.clip.model import ClipModel
    from engine.runtime import tune_allocator
    from engine.spatial.grid import make_grid
    from engine.spatial.maps import compute_map, crop_patches, to_tensor

    tune_allocator()
    if name == "tiny":
        clip = load_clip(ClipSpec(config=str(ROOT / "tests/data/tiny-clip.json")),
                         warn=lambda m: None)
    else:
        import open_clip

        torch.manual_seed(0)
        model = open_clip.create_model(name, pretrained=None)
        clip = ClipModel(model, open_clip.get_tokenizer(name), ClipSpec(model=name),
                         name=name, random=True)
    compute_map(clip, _frame(256, 144), cache=False)  # warm-up: lazy init, thread pools
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        clip.encode_image(torch.rand(1, 3, clip.image_size, clip.image_size), resize=False)
    flops_per_patch = counter.get_total_flops()
    base = _status_kib("VmRSS")
    frame = _frame(1920, 1080)
    grid = make_grid(1920, 1080)
    peak_ok = _reset_peak()
    t = time.perf_counter()
    compute_map(clip, frame, grid, cache=False, batch_size=32)
    first = time.perf_counter() - t
    peak = _status_kib("VmHWM") if peak_ok else 0
    out = {"model": name, "input": clip.image_size, "patches": grid.count,
           "grid": f"{grid.rows}x{grid.cols}", "first_s": first,
           "peak_mib": (peak - base) / 1024 if peak_ok else None}
    out["gflop_per_patch"] = flops_per_patch / 1e9
    out["roof_gflops"] = matmul_roof()  # right before timing: the machine is noisy
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for batch in (8, 32):
        s = _best(lambda b=batch: compute_map(clip, frame, grid, cache=False, batch_size=b),
                  repeat)
        out[f"map_s_b{batch}"] = s
        out[f"patches_per_s_b{batch}"] = grid.count / s
    out["cpu_share"] = (time.process_time() - cpu0) / (time.perf_counter() - wall0) / max(
        1, torch.get_num_threads())
    out["gflops_b32"] = flops_per_patch * grid.count / out["map_s_b32"] / 1e9

    def crops_only():
        with torch.no_grad():
            c = crop_patches(to_tensor(frame), grid)
            torch.nn.functional.interpolate(c, size=(clip.image_size,) * 2, mode="bilinear",
                                            antialias=True, align_corners=False)

    out["crop_resize_s"] = _best(crops_only, repeat)
    return out


def matmul_roof() -> float:
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    return 2 * 2048**3 / _best(lambda: a @ b, 5) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="tiny,RN50,ViT-B-32,ViT-S-32")
    ap.add_argument("--quick", action="store_true", help="one timing repeat instead of three")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    repeat = 1 if args.quick else 3
    if args.one:
        print(json.dumps(one_model(args.one, repeat)))
        return

    import torch

    from engine.runtime import tune_allocator

    tune_allocator()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    print(f"fp32 matmul roof (2048^2): {matmul_roof():.0f} GFLOP/s")
    print("1080p frame (1920x1080): 4x8 = 32 patches of 448 px at stride 224, each resized "
          "to the model's input; random weights\n")
    print(f"{'model':9s} {'input':>5s} {'GFLOP/patch':>11s} {'patches/s b8':>12s} "
          f"{'patches/s b32':>13s} {'1080p map':>9s} {'crop+resize':>11s} {'peak RAM':>9s} "
          f"{'GFLOP/s (roof)':>15s} {'CPU share':>9s}")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    for name in args.models.split(","):
        cmd = [sys.executable, __file__, "--one", name] + (["--quick"] if args.quick else [])
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            print(f"{name:9s} failed: {res.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        peak = "n/a" if r["peak_mib"] is None else f"{r['peak_mib']:.0f} MiB"
        print(f"{name:9s} {r['input']:5d} {r['gflop_per_patch']:11.3f} "
              f"{r['patches_per_s_b8']:12.1f} {r['patches_per_s_b32']:13.1f} "
              f"{r['map_s_b32']:8.2f}s {r['crop_resize_s']:10.3f}s {peak:>9s} "
              f"{r['gflops_b32']:6.0f} ({r['roof_gflops']:4.0f})  {r['cpu_share']:8.0%}")
    print("\npeak RAM: growth of the process's peak resident memory over its size after "
          "loading the model, while making one 1080p map at batch 32.\n"
          "GFLOP/s: the model's forward FLOPs (torch FlopCounterMode) x patches / map time "
          "at batch 32, next to a 2048^2 matmul measured just before in the same process.\n"
          "CPU share: process CPU time / wall time / threads while timing; below ~90% other "
          "work on the machine was competing.")


if __name__ == "__main__":
    main()
