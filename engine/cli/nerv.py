"""``sonolume nerv``: fit NeRV / HNeRV video networks with CLIP heads, evaluate, verify."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from engine.cli.common import add_clip_options, clip_spec_from_args
from engine.cli.train import DEVICES
from engine.errors import SonolumeError

RANDOM_NOTE = "  [random CLIP: for testing only]"


def register(sub) -> None:
    p = sub.add_parser(
        "nerv",
        help="fit implicit video networks (NeRV/HNeRV) that also predict CLIP embeddings",
        description="NeRV-CLIP: fit a NeRV (time -> frame) or HNeRV (frame -> tiny "
        "embedding -> frame) to a video, with a head that predicts each frame's CLIP "
        "embedding (global or per patch). Then evaluate and verify it.",
    )
    nsub = p.add_subparsers(dest="nerv_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    t = nsub.add_parser("train", help="fit a model to a video",
                        description="Fit a NeRV/HNeRV (+ CLIP head) to VIDEO. Ctrl-C saves "
                        "the 'last' checkpoint; continue with --resume OUT.")
    t.add_argument("video", nargs="?", metavar="VIDEO", help="any video ffmpeg reads")
    t.add_argument("--out", metavar="DIR", help="run folder (checkpoints, logs, eval)")
    t.add_argument("--resume", metavar="RUN", help="continue the run in RUN from 'last'")
    t.add_argument("--model", default="nerv", metavar="NAME",
                   help="nerv | hnerv, or a sized preset (see 'sonolume nerv models')")
    t.add_argument("--embed", metavar="pe_B_L",
                   help="NeRV time encoding (default pe_1.25_80: 160 dims)")
    t.add_argument("--params", metavar="N",
                   help="representation size budget, e.g. 750k or 1.5M (default: the "
                   "model's, 0.75M)")
    t.add_argument("--clip-head", default="global", choices=["none", "global", "spatial"])
    t.add_argument("--clip-loss-weight", type=float, metavar="L",
                   help="lambda for 1 - cos (default 0.1 global, 0.5 spatial)")
    t.add_argument("--warmup", type=int, default=0, metavar="E",
                   help="pixel-only epochs before the CLIP loss joins")
    t.add_argument("--split", default="4_4_5", metavar="a_b_c",
                   help="groups of c frames: positions < a train, >= b unseen (default "
                   "4_4_5); 'all' fits every frame")
    t.add_argument("--epochs", type=int, metavar="N",
                   help="epochs (default 60; with --resume: a new total)")
    t.add_argument("--size", default="128x256", metavar="HxW",
                   help="frame size, HEIGHTxWIDTH (HNeRV's order; default 128x256)")
    t.add_argument("--frames", type=int, metavar="N", help="use at most N frames")
    t.add_argument("--frame-step", type=int, default=1, metavar="K",
                   help="keep every K-th frame")
    t.add_argument("--batch-size", type=int, default=1)
    t.add_argument("--lr", type=float, default=5e-3,
                   help="peak learning rate (Adam, cosine schedule; default 5e-3)")
    t.add_argument("--pixel-loss", default="fusion6", choices=["fusion6", "l2", "l1"],
                   help="fusion6 = 0.7 L1 + 0.3 (1 - SSIM) (default)")
    t.add_argument("--contrastive", default="none", choices=["none", "infonce", "siglip"],
                   help="contrastive loss across the frames of a batch")
    t.add_argument("--contrastive-weight", type=float, default=0.1)
    t.add_argument("--neighbour-weight", type=float, default=0.0,
                   help="spatial head: neighbour-consistency weight (spatial loss)")
    t.add_argument("--sequence-loss", action="store_true",
                   help="add a learnable sequence similarity loss (global/local/temporal "
                   "+ attention 0.3) on runs of consecutive frames")
    t.add_argument("--sequence-weight", type=float, default=0.3)
    t.add_argument("--eval-every", type=int, default=10, metavar="E")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--cache-dir", metavar="DIR",
                   help="CLIP target cache (default: $SONOLUME_CACHE_DIR/nerv-targets)")
    t.add_argument("--threads", type=int, metavar="N",
                   help="torch threads when training on the CPU (default: torch's choice; "
                   "1 is often faster on a busy machine)")
    t.add_argument("--device", choices=DEVICES,
                   help="where the network trains: auto (a CUDA GPU when torch sees one, "
                   "else the CPU; the default for a new run), cpu or cuda; with --resume "
                   "the default is the device the run last trained on (the CPU where that "
                   "GPU is missing)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_clip_options(t)
    t.set_defaults(func=cmd_train)

    e = nsub.add_parser("eval", help="PSNR, MS-SSIM, CLIP similarity; CSV + TensorBoard")
    e.add_argument("run", metavar="RUN")
    e.add_argument("--checkpoint", default="best", choices=["best", "last"])
    e.add_argument("--video", metavar="PATH", help="the run's video, if it moved")
    e.add_argument("--no-clip", action="store_true",
                   help="skip CLIP's judgement of the reconstructions")
    e.add_argument("--json", action="store_true", help="print the summary as JSON")
    e.set_defaults(func=cmd_eval)

    v = nsub.add_parser("verify", help="did the CLIP head learn? baselines, R@K, sequences")
    v.add_argument("run", metavar="RUN")
    v.add_argument("--checkpoint", default="best", choices=["best", "last"])
    v.add_argument("--video", metavar="PATH", help="the run's video, if it moved")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_verify)

    m = nsub.add_parser("models", help="list the model presets")
    m.set_defaults(func=cmd_models)


_PARAMS = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*$")


def parse_params(text: str | None) -> int | None:
    if text is None:
        return None
    m = _PARAMS.match(text)
    if not m:
        raise SonolumeError(f"bad --params '{text}': use e.g. 750k, 1.5M or 200000")
    n = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    if n < 1000:
        raise SonolumeError("--params must be at least 1k")
    return int(n)


def _bar(quiet: bool, trainer):
    """The training bar: live on a terminal, a line every few seconds in a log."""
    if quiet:
        return None, None
    from engine.progress import progress_bar

    bar = progress_bar(trainer.total_steps, initial=trainer.step_count, unit="step",
                       desc="NeRV")

    def update(ev) -> None:
        if ev.phase == "targets":
            return
        post = {"ep": f"{ev.epoch}/{ev.epochs}"}
        if "pixel_loss" in ev.losses:
            post["pix"] = f"{ev.losses['pixel_loss']:.4f}"
        if "clip_loss" in ev.losses:
            post["clip"] = f"{ev.losses['clip_loss']:.4f}"
        if ev.metrics:
            post["psnr"] = f"{ev.metrics.get('psnr_train', float('nan')):.2f}"
        bar.set_postfix(post, refresh=False)
        bar.update(ev.step - bar.n)  # tqdm decides when to draw (not on every step)

    return bar, update


def cmd_train(args: argparse.Namespace) -> int:
    from engine.nerv.data import parse_hw
    from engine.nerv.train import NervTrainConfig, NervTrainer, device_label

    holder: dict = {}

    def relay(ev):
        if holder.get("update"):
            holder["update"](ev)

    def log(msg):
        print(msg, flush=True)

    if args.resume:
        clip_spec = clip_spec_from_args(args) if (args.clip_config or args.clip_checkpoint) \
            else None
        trainer = NervTrainer.resume(args.resume, clip_spec=clip_spec, epochs=args.epochs,
                                     cache_dir=args.cache_dir, on_progress=relay, log=log,
                                     threads=args.threads, device=args.device)
        print(f"resuming {args.resume} at epoch {trainer.epoch}/{trainer.config.epochs}")
    else:
        if not args.video:
            raise SonolumeError("give a VIDEO to fit (or --resume RUN)")
        if not args.out:
            raise SonolumeError("give --out DIR for the run's checkpoints and logs")
        out = Path(args.out)
        if (out / "run.json").exists():
            raise SonolumeError(f"{out} already holds a run; use --resume {out} or a new --out")
        cfg = NervTrainConfig(
            video=args.video, size=parse_hw(args.size), max_frames=args.frames,
            frame_step=args.frame_step, split=args.split, model=args.model,
            embed=args.embed, target_params=parse_params(args.params),
            clip_head=args.clip_head, clip_loss_weight=args.clip_loss_weight,
            warmup_epochs=args.warmup, epochs=args.epochs or 60,
            batch_size=args.batch_size, lr=args.lr, pixel_loss=args.pixel_loss,
            contrastive=args.contrastive, contrastive_weight=args.contrastive_weight,
            neighbour_weight=args.neighbour_weight,
            sequence_weight=args.sequence_weight if args.sequence_loss else 0.0,
            eval_every=args.eval_every, seed=args.seed,
        )
        clip_spec = clip_spec_from_args(args) if cfg.clip_head != "none" else None
        if clip_spec is not None:
            print(f"CLIP: {clip_spec.label}" + (RANDOM_NOTE if clip_spec.config else ""))
        trainer = NervTrainer(cfg, clip_spec=clip_spec, run_dir=out,
                              cache_dir=args.cache_dir, on_progress=relay, log=log,
                              threads=args.threads, device=args.device or "auto")
    cfg = trainer.config
    n_train, n_unseen = len(trainer.train_idx), len(trainer.unseen_idx)
    print(f"video: {trainer.num_frames} frames at {cfg.size[0]}x{cfg.size[1]} (HxW); "
          f"split {trainer.split.text}: {n_train} train, {n_unseen} unseen")
    print(f"training on {device_label(trainer.device)}")
    counts = trainer.model.parameter_counts()
    print("parameters: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v))
    bar, update = _bar(args.quiet, trainer)
    holder["update"] = update
    try:
        result = trainer.run()
    finally:
        if bar is not None:
            bar.close()
    random = trainer.clip_spec is not None and bool(trainer.clip_spec.config)
    print(result.summary() + (RANDOM_NOTE if random else ""))
    print(f"run saved in {trainer.run_dir}; next: sonolume nerv eval {trainer.run_dir}")
    return 0


def _load_clip_for(run, quiet_fail: bool = True):
    """The run's CLIP, for judging reconstructions; None (with a note) if unavailable."""
    from engine.clip import ClipSpec, load_clip
    from engine.errors import ClipUnavailable

    info = run.info.get("clip")
    if not info:
        return None
    try:
        return load_clip(ClipSpec(**info["spec"]))
    except ClipUnavailable as exc:
        if not quiet_fail:
            raise
        print(f"note: CLIP unavailable, skipping CLIP judgement of reconstructions: {exc}",
              file=sys.stderr)
        return None


def _mean(summary: dict, key: str, group: str):
    st = (summary.get(key) or {}).get(group)
    return None if st is None else st["mean"]


def cmd_eval(args: argparse.Namespace) -> int:
    from engine.nerv.evaluate import evaluate_run, text_histogram
    from engine.nerv.run import NervRun

    run = NervRun(args.run, args.checkpoint, args.video)
    clip = None if args.no_clip else _load_clip_for(run)
    s = evaluate_run(args.run, args.checkpoint, clip=clip, video=args.video)
    if args.json:
        print(json.dumps({k: v for k, v in s.items() if k != "per_frame"}, indent=1))
        return 0
    note = RANDOM_NOTE if s["random_clip"] else ""
    print(f"{s['run']} ({s['checkpoint']}, epoch {s['epoch']}): {s['frames']} frames "
          f"{s['frame_size'][0]}x{s['frame_size'][1]}, split {s['split']}")
    print(f"model: {s['model']}; trained on {s['trained_on']}")
    if s.get("clip"):
        print(f"CLIP: {s['clip']}{note}")
    rows = [("PSNR (dB)", "psnr", "{:.2f}"), ("MS-SSIM", "ms_ssim", "{:.4f}"),
            ("CLIP head cos", "clip_similarity", "{:.4f}"),
            ("CLIP(recon) vs CLIP(orig)", "recon_clip_similarity", "{:.4f}")]
    print(f"{'':28}{'all':>10}{'train':>10}{'unseen':>10}{'gap':>10}{'sigma':>10}")
    for label, key, fmt in rows:
        if key not in s:
            continue
        vals = [_mean(s, key, g) for g in ("all", "train", "unseen")]
        gap = s["generalisation_gap"].get(key)
        sig = s["stability"].get(key)
        cells = [fmt.format(v) if v is not None else "-" for v in vals + [gap, sig]]
        print(f"{label:28}" + "".join(f"{c:>10}" for c in cells))
    print(s["ms_ssim_note"])
    if "clip_similarity" in s.get("per_frame", {}):
        print("per-frame CLIP head similarity:")
        for line in text_histogram(s["per_frame"]["clip_similarity"]):
            print(line)
    print(f"wrote {Path(args.run) / 'eval' / 'frames.csv'}, summary.json and TensorBoard "
          f"scalars in {Path(args.run) / 'tb'}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from engine.nerv.evaluate import verify_run

    r = verify_run(args.run, args.checkpoint, seed=args.seed, video=args.video)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    note = RANDOM_NOTE if r["random_clip"] else ""
    print(f"{r['run']} ({r['checkpoint']}, epoch {r['epoch']}), {r['clip_head']} head, "
          f"CLIP {r['clip']}{note}")
    print(f"{'mean cos':14}{'true':>10}{'random':>10}{'shuffled':>10}{'t-shuffle':>10}"
          f"{'margin':>10}")
    for group, b in r["baselines"].items():
        print(f"{group:14}" + "".join(f"{b[k]:>10.4f}" for k in
                                       ("true", "random", "shuffled_pairs",
                                        "temporal_shuffle", "margin")))
    if "baselines_patches" in r:
        b = r["baselines_patches"]
        print(f"patches: true {b['true']:.4f}, random {b['random']:.4f}, other frames' maps "
              f"{b['shuffled_frames']:.4f}, shuffled patch positions "
              f"{b['shuffled_patches']:.4f}, margin {b['margin']:.4f}")
    print("retrieval of the true frame (k clamped to the candidates):")
    for group, rr in r["retrieval"].items():
        print(f"  {group:8} among {rr['candidates']:4}: " + ", ".join(
            f"{k} {rr[k]:.3f}" for k in ("R@1", "R@5", "R@10")))
    seq = r["sequence"]
    w = seq["weights"]
    print(f"sequence similarity (combined = {w['global']}*global + {w['local']}*local"
          f"(window {seq['local_window']}) + {w['temporal']}*temporal DTW, normalised):")
    for label in ("predicted", "temporal_shuffle", "learned"):
        if label in seq:
            s = seq[label]
            print(f"  {label:17} combined {s['combined']:.4f}  " + "  ".join(
                f"{k} {s[k]:.4f}" for k in ("global", "local", "temporal", "attention")
                if k in s))
    verdict = "YES" if r["beats_all_baselines"] else "NO"
    print(f"CLIP head beats all baselines (all frames): {verdict}{note}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from engine.nerv.models import get_model_config, list_models

    for name in list_models():
        c = get_model_config(name)
        size = f"{c.target_params / 1e6:.2f}M" if c.target_params else f"fc_dim {c.fc_dim}"
        what = c.embed if c.kind == "nerv" else f"{c.encoder} encoder"
        print(f"{name:14} {c.kind:6} {size:>8}  {c.stride_style:6}  {what}")
    return 0
