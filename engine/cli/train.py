"""``sonolume train``: prompts in, styles in the library out (one, or a mood board)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from engine.cli.common import add_clip_options, clip_spec_from_args, library_dir_from_args
from engine.errors import SonolumeError

RUNS_ENV = "SONOLUME_RUNS"


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a style from text prompts",
        description="Train a CPPN style until CLIP judges it to match the prompts. "
        "Weight a prompt with 'text::2'. Several prompts blend into one style; with --each "
        "or --batch every prompt (line) becomes its own style (a mood board).",
    )
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help="text prompt(s), 'text::weight'")
    p.add_argument("--negative", action="append", default=[], metavar="TEXT",
                   help="a prompt to steer away from (repeatable)")
    p.add_argument("--image", metavar="PATH", help="a reference picture as an extra prompt")
    p.add_argument("--preset", default="draft", choices=["draft", "standard", "high"],
                   help="draft: minutes on a CPU; standard: the seed recipe; high")
    p.add_argument("--steps", type=int, help="total iterations (stages scaled to fit)")
    p.add_argument("--cutouts", type=int, help="random crops per step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="style name (default: from the prompt)")
    p.add_argument("--each", action="store_true", help="train each PROMPT as its own style")
    p.add_argument("--batch", metavar="FILE",
                   help="mood board: one style per non-empty line of FILE ('#' comments)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a cancelled run")
    p.add_argument("--runs-dir", metavar="DIR", help=f"where checkpoints go (${RUNS_ENV})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_clip_options(p)
    p.set_defaults(func=run)


_WEIGHT = re.compile(r"^(.*?)::\s*([-+0-9.eE]+)\s*$")


def parse_prompt(text: str):
    from engine.cppn.train import Prompt

    m = _WEIGHT.match(text)
    if not m:
        return Prompt(text.strip())
    try:
        weight = float(m.group(2))
    except ValueError:
        raise SonolumeError(f"bad prompt weight in '{text}' (use 'text::1.5')") from None
    return Prompt(m.group(1).strip(), weight)


def _jobs(args) -> list[list[str]]:
    if args.batch:
        try:
            lines = Path(args.batch).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SonolumeError(f"cannot read prompt file {args.batch}: {exc}") from exc
        jobs = [[part for part in line.split("|")] for line in lines
                if line.strip() and not line.lstrip().startswith("#")]
        if not jobs:
            raise SonolumeError(f"prompt file {args.batch} has no prompts")
        return jobs + ([[p] for p in args.prompts] if args.prompts else [])
    if not args.prompts:
        raise SonolumeError("give a prompt, e.g. sonolume train \"neon jellyfish\"")
    return [[p] for p in args.prompts] if args.each else [args.prompts]


def runs_dir(args) -> Path:
    if args.runs_dir:
        return Path(args.runs_dir)
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV])
    import platformdirs

    return Path(platformdirs.user_data_dir("sonolume")) / "runs"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "style"


def _progress_bar(total: int, label: str, quiet: bool):
    if quiet:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label[:30], unit="it", dynamic_ncols=True, file=sys.stderr)

    def update(ev) -> None:
        bar.n = ev.iteration
        bar.set_postfix(sim=f"{ev.similarity:.3f}", res=ev.resolution, refresh=False)
        bar.refresh()

    return bar, update


def _train_one(trainer, label: str, args):
    bar, update = _progress_bar(trainer.config.total_iterations, label, args.quiet)
    if bar is not None:
        bar.n = trainer.iteration
    try:
        return trainer.run(on_progress=update)
    finally:
        if bar is not None:
            bar.close()


def _save(result, name: str, args) -> None:
    from engine.styles.library import Library

    library = Library(library_dir_from_args(args))
    style = library.add(result.cppn, result.style_meta(name), result.thumbnail)
    note = "  [random CLIP: for testing only]" if result.clip.get("random") else ""
    print(f"saved style '{style.name}' ({style.id}) score {result.score:.3f} "
          f"in {result.seconds:.0f} s{note}")


def run(args: argparse.Namespace) -> int:
    from engine.clip.loader import load_clip
    from engine.cppn.train import TrainConfig, Trainer, with_schedule_scale

    if args.resume:
        spec = Trainer.stored_clip_spec(args.resume)
        if args.clip_checkpoint or args.clip_config:
            spec = clip_spec_from_args(args)
        clip = load_clip(spec)
        trainer = Trainer.resume(args.resume, clip)
        name = trainer.job.get("name") or trainer.config.prompts[0].text[:40]
        result = _train_one(trainer, name, args)
        _save(result, name, args)
        return 0

    jobs = _jobs(args)
    prompts_per_job = [[parse_prompt(t) for t in job] for job in jobs]
    configs = []
    for prompts in prompts_per_job:
        cfg = TrainConfig.from_preset(
            args.preset, prompts, negatives=[n.strip() for n in args.negative],
            image_prompt=args.image, seed=args.seed, cutouts=args.cutouts,
        )
        cfg = with_schedule_scale(cfg, args.steps)
        cfg.validate()
        configs.append(cfg)
    clip = load_clip(clip_spec_from_args(args))
    base = runs_dir(args)
    for i, cfg in enumerate(configs):
        if args.name:
            name = args.name if len(configs) == 1 else f"{args.name} {i + 1}"
        else:
            name = " + ".join(p.text for p in cfg.prompts)[:60]
        run_dir = base / f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}"
        trainer = Trainer(cfg, clip, run_dir)
        trainer.job = {"name": name}
        if len(configs) > 1:
            print(f"[{i + 1}/{len(configs)}] {name}", file=sys.stderr)
        result = _train_one(trainer, name, args)
        _save(result, name, args)
    return 0
