"""A mood board on a Ray cluster: one task per prompt, styles back as share-file bytes.

Each task loads its own CLIP on the node it runs on (the same model and tag, or the same
checkpoint path: a node without the weights fails that task with the usual clear message),
trains one style, packs it as a ``.sonolume`` share file and returns the bytes. The driver
imports each one into the local library the moment it arrives (the library's own atomic,
validated import), so a failing prompt or a lost node loses only its own style. Prompts
whose style is already in the library (same prompts and negatives) are skipped, so
re-running a batch finishes what is missing.

Nothing on the driver's disk is read by a worker: a random-weight test CLIP travels as its
config text, an image prompt as its bytes.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.cluster import connect, disconnect, task_error
from engine.errors import Cancelled, SonolumeError

POLL_S = 0.5


@dataclass(frozen=True)
class ClipSource:
    """A ClipSpec that travels: the config file's text instead of its path."""

    model: str
    pretrained: str | None
    checkpoint: str | None
    config_name: str | None = None
    config_text: str | None = None

    @classmethod
    def of(cls, spec) -> ClipSource:
        """From the driver's ClipSpec; a checkpoint named by this machine's environment
        (``SONOLUME_CLIP_CHECKPOINT``) is made explicit, since a node's environment is its
        own: every node then needs the file at that same path."""
        import os

        from engine.clip.loader import CHECKPOINT_ENV

        checkpoint = spec.checkpoint or (None if spec.config else
                                         os.environ.get(CHECKPOINT_ENV) or None)
        text = name = None
        if spec.config:
            path = Path(spec.config)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SonolumeError(f"cannot read CLIP config {path}: {exc}") from exc
            name = path.name
        return cls(spec.model, spec.pretrained, checkpoint, name, text)

    def load(self, folder: Path, device: str = "cpu"):
        from engine.clip import ClipSpec, load_clip

        config = None
        if self.config_text is not None:
            config = folder / (self.config_name or "clip-config.json")
            config.write_text(self.config_text, encoding="utf-8")
        spec = ClipSpec(model=self.model, pretrained=self.pretrained,
                        checkpoint=self.checkpoint, config=str(config) if config else None)
        return load_clip(spec, device=device, warn=lambda msg: None)


@dataclass(frozen=True)
class TrainJob:
    name: str
    config: object  # TrainConfig; its image prompt path is replaced on the worker
    image: bytes | None = None
    image_name: str | None = None


@dataclass(frozen=True)
class Landed:
    """What the driver reports per prompt: the style, or why it failed."""

    name: str
    style: object | None = None
    error: str | None = None
    skipped: bool = False
    score: float | None = None
    seconds: float | None = None


def train_task(job: TrainJob, clip: ClipSource, hook=None) -> bytes:
    """One Ray task: train ``job`` on this node and return the style as share bytes.
    ``hook(name)`` runs first on the worker (tests inject a failure with it)."""
    from engine.cppn.train import Trainer
    from engine.styles.library import Library

    if hook is not None:
        hook(job.name)
    with tempfile.TemporaryDirectory(prefix="sonolume-cluster-train-") as tmp:
        folder = Path(tmp)
        config = job.config
        if job.image is not None:
            image = folder / (job.image_name or "image.png")
            image.write_bytes(job.image)
            config = replace(config, image_prompt=str(image))
        device = task_device()
        model = clip.load(folder, device)
        trainer = Trainer(config, model, run_dir=None, device=device)
        trainer.job = {"name": job.name}
        result = trainer.run()
        library = Library(folder / "library")
        style = library.add(result.cppn, result.style_meta(job.name), result.thumbnail)
        share = library.export_share(style.id, folder / "style.sonolume")
        return share.read_bytes()


def _prompt_key(prompts, negatives) -> tuple:
    return (tuple((str(p["text"]).strip(), float(p.get("weight", 1.0))) for p in prompts),
            tuple(str(n).strip() for n in negatives))


def already_trained(library, config) -> object | None:
    """The library style trained from exactly these prompts and negatives, if any."""
    want = _prompt_key([{"text": p.text, "weight": p.weight} for p in config.prompts],
                       config.negatives)
    for style in library.list():
        if style.readonly or not style.trained:
            continue
        if _prompt_key(style.prompts, style.meta.get("negatives") or []) == want:
            return style
    return None


def training_resources(ray, cpus: int = 1) -> dict:
    """What one prompt's task asks for: ``cpus`` CPUs, plus one GPU where the cluster has
    any (the trainer then runs CLIP and the CPPN on it: a GPU trains a style many times
    faster than a node's CPUs). On a CPU-only cluster no GPU is asked for, or no task
    would ever be scheduled."""
    resources = {"num_cpus": max(1, int(cpus))}
    if float(ray.cluster_resources().get("GPU", 0)) >= 1:
        resources["num_gpus"] = 1
    return resources


def task_device() -> str:
    """Where a task trains: the GPU Ray gave it (``CUDA_VISIBLE_DEVICES`` names only
    that one), else the node's CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_on_cluster(jobs: list[TrainJob], clip_spec, library, *, cluster: str | None = "",
                     cpus_per_task: int = 1, max_retries: int = 1, cancel=None,
                     on_event: Callable[[str, Landed | None], None] | None = None,
                     hook: Callable | None = None) -> list[Landed]:
    """Train ``jobs`` on the cluster at ``cluster`` (``""``: a local Ray instance) and
    import each finished style into ``library`` as it arrives. Returns one
    :class:`Landed` per job, in the order given; ``on_event(kind, landed)`` is told
    ``"skip"``, ``"start"`` (landed None), ``"landed"`` and ``"failed"`` as they happen.
    Cancel (token or Ctrl-C) stops every task; styles already imported stay."""
    source = ClipSource.of(clip_spec)
    results: dict[int, Landed] = {}
    todo = []
    for i, job in enumerate(jobs):
        done = already_trained(library, job.config)
        if done is not None:
            results[i] = Landed(job.name, style=done, skipped=True)
            if on_event:
                on_event("skip", results[i])
        else:
            todo.append(i)
    if not todo:
        return [results[i] for i in range(len(jobs))]
    address = None if cluster in ("", "local", None) else cluster
    ray, started = connect(address)
    refs: dict = {}
    try:
        task = ray.remote(max_retries=int(max_retries),
                          **training_resources(ray, cpus_per_task))(train_task)
        clip_ref = ray.put(source)
        refs = {task.remote(jobs[i], clip_ref, hook): i for i in todo}
        if on_event:
            on_event("start", None)
        while refs:
            if cancel is not None and (cancel.is_set() if hasattr(cancel, "is_set")
                                       else cancel()):
                raise Cancelled("training on the cluster was cancelled; the styles that "
                                "had finished are in the library")
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
            for ref in ready:
                i = refs.pop(ref)
                job = jobs[i]
                try:
                    data = ray.get(ref)
                    style = _import_bytes(library, data, job.name)
                    landed = Landed(job.name, style=style, score=style.meta.get("score"),
                                    seconds=(style.meta.get("extra") or {}).get(
                                        "train_seconds"))
                    kind = "landed"
                except Exception as exc:  # one prompt failing loses no other
                    err = task_error(exc)
                    landed = Landed(job.name, error=str(err))
                    kind = "failed"
                results[i] = landed
                if on_event:
                    on_event(kind, landed)
    except BaseException:
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        disconnect(ray, started)
    return [results[i] for i in range(len(jobs))]


def _import_bytes(library, data: bytes, name: str):
    """Import share bytes through the library's own validated, atomic import."""
    from engine import atomic

    library.user_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=atomic.TEMP_PREFIX,
                                     dir=library.user_dir) as tmp:
        path = Path(tmp) / "cluster.sonolume"
        path.write_bytes(data)
        style = library.import_share(path, name=name)
    return style
