"""``sonolume suggest TRACK``: the library's styles ranked for a track, with reasons."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.cli.common import add_clip_options, clip_spec_from_args, library_dir_from_args
from engine.errors import ClipUnavailable, SonolumeError


def register(sub) -> None:
    p = sub.add_parser(
        "suggest",
        help="rank the library's styles for an audio track",
        description="Describe a track from its audio features (tempo, energy, percussion, "
        "brightness, key mode) and rank the library's styles for it: by CLIP text "
        "similarity between the description and each style's prompts when a CLIP can be "
        "loaded, by matching mood words against style names and prompts otherwise.",
    )
    p.add_argument("track", metavar="TRACK", help="audio file")
    p.add_argument("--top", type=int, default=5, help="how many styles to list (5)")
    p.add_argument("--by", choices=["auto", "clip", "words"], default="auto",
                   help="auto: CLIP when its weights are available, else words (default); "
                   "clip: CLIP or fail; words: the keyword heuristic only")
    p.add_argument("--cache-dir", metavar="DIR", help="audio analysis cache folder")
    add_clip_options(p)
    p.set_defaults(func=run)


def _load_clip(args):
    from engine.clip.loader import load_clip

    return load_clip(clip_spec_from_args(args), warn=lambda m: print(m, file=sys.stderr))


def run(args) -> int:
    from engine.audio.analyze import analyze
    from engine.audio.describe import describe
    from engine.audio.suggest import rank_styles
    from engine.styles.library import Library

    if args.top < 1:
        raise SonolumeError("--top must be at least 1")
    features = analyze(Path(args.track), cache_dir=args.cache_dir)
    desc = describe(features)
    library = Library(library_dir_from_args(args))
    styles = library.list()
    for problem in getattr(library, "problems", []):
        print(f"note: {problem}", file=sys.stderr)
    if not styles:
        raise SonolumeError("the style library is empty; train a style first")

    clip, how = None, "mood words in style names and prompts (no CLIP)"
    if args.by != "words":
        try:
            clip = _load_clip(args)
            how = f"CLIP text similarity ({clip.label})"
        except ClipUnavailable as exc:
            if args.by == "clip":
                raise
            first = str(exc).split(". ")[0]
            print(f"note: {first}; ranking by mood words instead (--by words skips CLIP)",
                  file=sys.stderr)

    print(f"track: {Path(args.track).name}: {desc.text}")
    for t in desc.traits:
        print(f"  {t.name:<10} {t.word:<10} {t.detail}  (strength {t.strength:.2f})")
    print(f"ranked by {how}:")
    ranked = rank_styles(desc, styles, clip=clip)
    for i, (style, score, reasons) in enumerate(ranked[: args.top], 1):
        print(f"{i:>2}. {style.name}  [{style.id}]  score {score:.3f}")
        for r in reasons:
            print(f"      - {r}")
    return 0
