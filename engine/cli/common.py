"""Options shared by several sub-commands (CLIP choice, library location, sizes)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from engine import paths
from engine.clip.loader import DEFAULT_MODEL, DEFAULT_PRETRAINED, ClipSpec
from engine.errors import SonolumeError


def add_clip_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("CLIP model")
    g.add_argument("--clip", default=DEFAULT_MODEL, metavar="MODEL",
                   help=f"open_clip model name (default {DEFAULT_MODEL})")
    g.add_argument("--pretrained", default=DEFAULT_PRETRAINED, metavar="TAG",
                   help=f"open_clip pretrained tag (default {DEFAULT_PRETRAINED})")
    g.add_argument("--clip-checkpoint", metavar="PATH",
                   help="load CLIP weights from this local checkpoint file")
    g.add_argument("--clip-config", metavar="FILE.json",
                   help="TESTING ONLY: an open_clip model config with random weights")


def clip_spec_from_args(args: argparse.Namespace) -> ClipSpec:
    return ClipSpec(
        model=args.clip,
        pretrained=args.pretrained,
        checkpoint=args.clip_checkpoint,
        config=args.clip_config,
    )


def library_dir_from_args(args: argparse.Namespace) -> Path:
    """``--library``, else what :func:`engine.paths.library_dir` says."""
    return paths.library_dir(getattr(args, "library", None))


_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


def parse_size(text: str, limit: int = 8192) -> tuple[int, int]:
    """'1280x720' -> (1280, 720), with a clear error for anything else."""
    m = _SIZE.match(text or "")
    if not m:
        raise SonolumeError(f"bad size '{text}': use WIDTHxHEIGHT, e.g. 1280x720")
    w, h = int(m.group(1)), int(m.group(2))
    if not (1 <= w <= limit and 1 <= h <= limit):
        raise SonolumeError(f"bad size '{text}': each side must be 1 to {limit}")
    return w, h
