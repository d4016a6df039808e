"""Find and load CLIP weights without ever hanging on a network that is not there.

open_clip downloads pretrained weights from the Hugging Face hub and, offline, retries for
~46 s before failing. We look in the local cache first, probe the hub with a short timeout
when the file is missing, and otherwise stop at once with a message naming the file and
the two ways to provide it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

# The spec's names stay importable from here (the CLI, app and bench import them so).
from engine.clip.spec import DEFAULT_MODEL, DEFAULT_PRETRAINED, ClipSpec  # noqa: F401
from engine.errors import ClipUnavailable

HUB_HOST = "huggingface.co"
CHECKPOINT_ENV = "SONOLUME_CLIP_CHECKPOINT"

RANDOM_WARNING = (
    "WARNING: using a RANDOMLY INITIALISED CLIP ({name}) from {path}. Its judgements are "
    "noise; results are for testing only and are marked 'random CLIP'."
)


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _how_to_provide(model: str, tag: str, what: str) -> str:
    return (
        f"CLIP weights for {model}/{tag} are not available: {what}. Provide them in one of "
        f"two ways: (1) connect to the internet once and run any CLIP command so open_clip "
        f"downloads them into the Hugging Face cache, or (2) download the checkpoint "
        f"yourself and pass --clip-checkpoint PATH (or set {CHECKPOINT_ENV}, or the "
        f"'CLIP checkpoint' setting in the app)."
    )


def _find_local(model: str, tag: str) -> tuple[str | None, str]:
    """(path of cached weights or None, a description of the file that is missing)."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model, tag)
    hub = cfg.get("hf_hub") or ""
    if hub:
        # open_clip's convention: "org/repo/" names the repo (default file names), while
        # "org/repo/file.bin" names one file in it.
        if hub.endswith("/"):
            repo = hub.rstrip("/")
            names = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        else:
            repo, file = hub.rsplit("/", 1)
            names = [file]
        try:
            from huggingface_hub import try_to_load_from_cache

            for name in names:
                hit = try_to_load_from_cache(repo_id=repo, filename=name)
                if isinstance(hit, str) and os.path.exists(hit):
                    return hit, ""
        except ImportError:
            pass
        return None, (f"'{names[-1]}' from the Hugging Face repository '{repo}' is not in "
                      "the local cache")
    url = cfg.get("url", "")
    cache = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
    if url and cache.exists():
        return str(cache), ""
    return None, f"'{os.path.basename(url) or model}' is not in the local cache"


def local_weights(model: str, tag: str) -> str | None:
    """Path of the cached weights for (model, tag), or None."""
    return _find_local(model, tag)[0]


def resolve_pretrained(model: str, tag: str) -> str:
    """Return what open_clip should load for (model, tag): the tag itself when the file is
    cached or downloadable now; raise ClipUnavailable within a few seconds otherwise."""
    import open_clip

    if tag not in open_clip.list_pretrained_tags_by_model(model):
        known = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        if model not in open_clip.list_models():
            raise ClipUnavailable(
                f"unknown CLIP model '{model}'; run 'sonolume clip-models' for the list"
            )
        raise ClipUnavailable(f"CLIP model {model} has no pretrained tag '{tag}' (known: {known})")
    path, where = _find_local(model, tag)
    if path:
        return path
    if not _hub_reachable():
        raise ClipUnavailable(_how_to_provide(model, tag, where + " and the network is offline"))
    return tag


def load_clip(spec: ClipSpec | None = None, device: str = "cpu", warn=None):
    """Build a ready-to-use :class:`ClipModel` in FP32 from a :class:`ClipSpec`."""
    import torch

    from engine.clip.model import ClipModel

    spec = spec or ClipSpec()
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    import open_clip

    checkpoint = spec.checkpoint or (None if spec.config else os.environ.get(CHECKPOINT_ENV))
    if spec.config:
        path = Path(spec.config)
        if not path.is_file():
            raise ClipUnavailable(f"CLIP config file not found: {path}")
        try:
            cfg = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ClipUnavailable(f"CLIP config {path} is not valid JSON: {exc}") from exc
        if not isinstance(cfg, dict) or "vision_cfg" not in cfg or "text_cfg" not in cfg:
            raise ClipUnavailable(
                f"CLIP config {path} is not an open_clip model config "
                "(needs 'embed_dim', 'vision_cfg' and 'text_cfg')"
            )
        open_clip.add_model_config(path)
        name = path.stem
        warn(RANDOM_WARNING.format(name=name, path=path))
        torch.manual_seed(0)  # the same random CLIP every time, so tests and runs compare
        model = open_clip.create_model(name, pretrained=None, device=device, precision="fp32")
        return ClipModel(model, open_clip.get_tokenizer(name), spec, name=name, random=True)

    if checkpoint:
        path = Path(checkpoint)
        if not path.is_file():
            raise ClipUnavailable(
                f"CLIP checkpoint file not found: {path}. Pass the path of a downloaded "
                f"open_clip/OpenAI checkpoint for model {spec.model}."
            )
        if spec.model not in open_clip.list_models():
            raise ClipUnavailable(f"unknown CLIP model '{spec.model}'")
        try:
            model = open_clip.create_model(
                spec.model, pretrained=str(path), device=device, precision="fp32"
            )
        except Exception as exc:  # open_clip raises many types for a bad file
            raise ClipUnavailable(
                f"could not load {path} as a {spec.model} checkpoint: {exc}"
            ) from exc
        spec = ClipSpec(model=spec.model, pretrained=None, checkpoint=str(path))
        return ClipModel(model, open_clip.get_tokenizer(spec.model), spec, name=spec.model)

    pretrained = resolve_pretrained(spec.model, spec.pretrained or DEFAULT_PRETRAINED)
    try:
        model = open_clip.create_model(
            spec.model, pretrained=pretrained, device=device, precision="fp32"
        )
    except Exception as exc:
        raise ClipUnavailable(
            _how_to_provide(spec.model, spec.pretrained or "", f"loading failed ({exc})")
        ) from exc
    return ClipModel(model, open_clip.get_tokenizer(spec.model), spec, name=spec.model)
