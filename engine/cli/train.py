"""``sonolume train``: prompts in, styles in the library out (one, or a mood board)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import signal
import sys
import threading
import time
from pathlib import Path

from engine import paths
from engine.cli.common import add_clip_options, clip_spec_from_args, library_dir_from_args
from engine.cppn.train import DEFAULT_PRESET, MAX_STEPS, TRAIN_PRESETS, list_presets
from engine.errors import Cancelled, SonolumeError

EXIT_TERMINATED = 128 + signal.SIGTERM  # what a shell reports for a TERM-killed program


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
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=list(TRAIN_PRESETS),
                   help="; ".join(f"{t.name}: {t.description}" for t in list_presets()))
    p.add_argument("--list-presets", action="store_true",
                   help="show each preset's schedule and purpose, then exit")
    p.add_argument("--steps", type=_steps, metavar="N",
                   help=f"total iterations, 1 to {MAX_STEPS:,} (stages scaled to fit)")
    p.add_argument("--cutouts", type=int, help="random crops per step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--independent", action="store_true",
                   help="start from a network seeded by --seed instead of the shared base "
                   "network (the old way; such styles morph poorly: shows crossfade them)")
    p.add_argument("--name", help="style name (default: from the prompt)")
    p.add_argument("--each", action="store_true", help="train each PROMPT as its own style")
    p.add_argument("--batch", metavar="FILE",
                   help="mood board: one style per non-empty line of FILE ('#' comments)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a cancelled run")
    p.add_argument("--runs-dir", metavar="DIR", help=f"where checkpoints go (${paths.RUNS_ENV})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--cluster", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="train on a Ray cluster, one task per prompt (with --each or "
                   "--batch); each style lands in the library as it finishes and prompts "
                   "already there are skipped; no ADDRESS starts a local Ray instance "
                   "(needs: pip install 'sonolume[cluster]')")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where CLIP and the CPPN train: auto (a CUDA GPU when torch sees "
                   "one, else the CPU), cpu or cuda")
    add_clip_options(p)
    p.set_defaults(func=run)


DEVICES = ("auto", "cpu", "cuda")


def train_device(choice: str) -> str:
    """``--device`` as a torch device name; ``cuda`` where none is seen fails at once with
    the reason (engine.cppn.train.check_device), not deep inside the first step."""
    from engine.cppn.train import check_device

    if choice == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(check_device(choice))


def _steps(text: str) -> int:
    """argparse type for --steps: a clear refusal instead of silently running the preset
    (0) or accepting a run that would never end."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 1 <= value <= MAX_STEPS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_STEPS:,}, got {value}")
    return value


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
    # Absolute, so the resume command printed on a stop works from any folder.
    return paths.runs_dir(args.runs_dir).absolute()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "style"


def _progress_bar(total: int, label: str, quiet: bool, initial: int = 0):
    """A live bar on a terminal; a line every few seconds in a log (engine.progress)."""
    if quiet:
        return None, None
    from engine.progress import progress_bar

    bar = progress_bar(total, desc=label[:30], unit="it", initial=initial)

    def update(ev) -> None:
        bar.set_postfix(sim=f"{ev.similarity:.3f}", res=ev.resolution, refresh=False)
        bar.update(ev.iteration - bar.n)

    return bar, update


class Terminated(Exception):
    """SIGTERM arrived: training saved a checkpoint, as on Ctrl-C."""


@contextlib.contextmanager
def _sigterm_as_interrupt(state: dict):
    """Treat SIGTERM (``kill``, a closing terminal session, a job scheduler) like Ctrl-C, so
    the trainer saves a checkpoint and the resume command is printed instead of the work
    vanishing with a bare exit status 143."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return

    def on_term(signum, frame):
        state["terminated"] = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train_one(trainer, label: str, args):
    state: dict = {}
    bar = None
    try:
        with _sigterm_as_interrupt(state):
            bar, update = _progress_bar(trainer.config.total_iterations, label, args.quiet,
                                        initial=trainer.iteration)
            return trainer.run(on_progress=update)
    except Cancelled as exc:
        if state.get("terminated"):
            raise Terminated(str(exc)) from None
        raise
    except KeyboardInterrupt:
        # Outside the trainer's step loop (before its first step, or while it scores the
        # result): the trainer did not save, so save here.
        if not state.get("terminated"):
            raise Cancelled(trainer.stop_message()) from None
        raise Terminated(trainer.stop_message()) from None
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


def print_presets() -> None:
    for t in list_presets():
        print(f"{t.name:<10} {t.summary()}\n{'':<10} {t.description}")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except Terminated as exc:
        print(f"sonolume: terminated: {exc}", file=sys.stderr)
        return EXIT_TERMINATED


def _run(args: argparse.Namespace) -> int:
    from engine.clip.loader import load_clip
    from engine.cppn.train import TrainConfig, Trainer, with_schedule_scale

    if args.list_presets:
        print_presets()
        return 0
    if args.resume and args.cluster is not None:
        raise SonolumeError("--resume continues a run on this machine; drop --cluster")
    if args.resume:
        spec = Trainer.stored_clip_spec(args.resume)
        if args.clip_checkpoint or args.clip_config:
            spec = clip_spec_from_args(args)
        clip = load_clip(spec, device=train_device(args.device))
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
        if args.independent:
            cfg = dataclasses.replace(cfg, base=None)
        cfg.validate()
        configs.append(cfg)
    if args.cluster is not None:
        return _train_on_cluster(args, configs)
    device = train_device(args.device)
    if device != "cpu":
        import torch

        print(f"training on {device} ({torch.cuda.get_device_name(device)})", file=sys.stderr)
    clip = load_clip(clip_spec_from_args(args), device=device)
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


def _train_on_cluster(args, configs) -> int:
    """``--cluster``: one Ray task per style (engine.cluster.train); each finished style is
    imported here as it arrives. Exit status 1 when any prompt failed (the others land)."""
    from engine.cluster.train import TrainJob, train_on_cluster
    from engine.styles.library import Library

    jobs = []
    for i, cfg in enumerate(configs):
        if args.name:
            name = args.name if len(configs) == 1 else f"{args.name} {i + 1}"
        else:
            name = " + ".join(p.text for p in cfg.prompts)[:60]
        image = Path(cfg.image_prompt) if cfg.image_prompt else None
        jobs.append(TrainJob(name, cfg, image.read_bytes() if image else None,
                             image.name if image else None))
    library = Library(library_dir_from_args(args))
    where = f"the Ray cluster at {args.cluster}" if args.cluster else "a local Ray instance"

    def event(kind, landed) -> None:
        if kind == "skip":
            print(f"skipped '{landed.name}': already in the library as "
                  f"'{landed.style.name}'", file=sys.stderr)
        elif kind == "start":
            print(f"training on {where} ...", file=sys.stderr, flush=True)
        elif kind == "landed":
            note = "  [random CLIP: for testing only]" if landed.style.clip_random else ""
            print(f"saved style '{landed.style.name}' ({landed.style.id}) score "
                  f"{landed.score or 0:.3f} in {landed.seconds or 0:.0f} s{note}", flush=True)
        elif kind == "failed":
            print(f"sonolume: '{landed.name}' failed: {landed.error}", file=sys.stderr,
                  flush=True)

    results = train_on_cluster(jobs, clip_spec_from_args(args), library,
                               cluster=args.cluster, on_event=event)
    failed = [r for r in results if r.error is not None]
    if failed:
        print(f"sonolume: {len(failed)} of {len(results)} styles failed; run the same "
              "command again to retry them (finished ones are skipped)", file=sys.stderr)
        return 1
    return 0
