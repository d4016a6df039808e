"""``sonolume gallery -o DIR``: a static HTML page comparing every style."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.cli.common import library_dir_from_args


def register(sub) -> None:
    p = sub.add_parser("gallery", help="write a static HTML page comparing all styles",
                       description="Write DIR/index.html and DIR/thumbs/: every style with its "
                       "thumbnail, prompts, CLIP model, score and badges, sortable and "
                       "filterable in the browser, no server needed.")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--title", default="Sonolume styles")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.styles.gallery import build_gallery
    from engine.styles.library import Library

    library = Library(library_dir_from_args(args))
    styles = library.list()
    for problem in library.problems:
        print(f"sonolume: warning: {problem}", file=sys.stderr)
    index = build_gallery(styles, Path(args.output), title=args.title)
    print(f"wrote {index} ({len(styles)} styles)")
    return 0
