"""``sonolume demo --out DIR``: the main job on bundled defaults (what ``make demo`` runs).

The demo is a list of steps; each takes the shared :class:`DemoContext` and returns the
files it made. Append a step to :data:`STEPS` to extend it (e.g. an audio-reactive MP4).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import SonolumeError


@dataclass
class DemoContext:
    out: Path
    args: object
    log: Callable[[str], None] = print
    _styles: list | None = field(default=None, repr=False)

    @property
    def bundled_styles(self) -> list:
        """Every bundled style (read once; broken ones are reported and skipped)."""
        if self._styles is None:
            from engine.styles.library import BUNDLED_DIR, Library

            # bundled only: point the user library at a folder that is never created
            library = Library(user_dir=self.out / ".no-user-library", bundled_dir=BUNDLED_DIR)
            self._styles = [s for s in library.list() if s.readonly]
            for problem in library.problems:
                print(f"sonolume: warning: {problem}", file=sys.stderr)
            if not self._styles:
                raise SonolumeError(f"no bundled styles found in {BUNDLED_DIR}")
        return self._styles


def step_contact_sheet(ctx: DemoContext) -> list[Path]:
    from engine.styles.contact import contact_sheet

    items = []
    for style in ctx.bundled_styles:
        arch = style.meta["architecture"]
        detail = f"{style.kind} · seed {style.meta.get('seed')} · {arch['layers']}x{arch['hidden']}"
        items.append((f"{style.name}\n{detail}", style.load_cppn()))
    path = ctx.out / "contact_sheet.png"
    sheet = contact_sheet(items, cell=getattr(ctx.args, "cell", 256), columns=5)
    from engine.cli.still import save_image_atomic

    save_image_atomic(sheet, path)
    return [path]


def step_gallery(ctx: DemoContext) -> list[Path]:
    from engine.styles.gallery import build_gallery

    return [build_gallery(ctx.bundled_styles, ctx.out / "gallery",
                          title="Sonolume — bundled seeded patterns")]


def step_video(ctx: DemoContext) -> list[Path]:
    from engine.cli.render import step_demo_video

    if getattr(ctx.args, "no_video", False):
        ctx.log("  skipped (--no-video)")
        return []
    return step_demo_video(ctx)


STEPS: list[tuple[str, Callable[[DemoContext], list[Path]]]] = [
    ("contact sheet of every bundled style", step_contact_sheet),
    ("HTML gallery", step_gallery),
    ("audio-reactive MP4 of the bundled demo track", step_video),
]


def register(sub) -> None:
    p = sub.add_parser("demo", help="render the bundled styles and a demo MP4",
                       description="Run the demo on bundled defaults: a labelled contact "
                       "sheet of every bundled style, the HTML gallery, and demo.mp4 (the "
                       "first bundled style reacting to the bundled demo track), into DIR.")
    p.add_argument("--out", default="out", metavar="DIR", help="output folder (default out/)")
    p.add_argument("--cell", type=int, default=256,
                   help="contact sheet cell size in pixels (default 256)")
    p.add_argument("--no-video", action="store_true", help="skip demo.mp4 (minutes on a CPU)")
    p.set_defaults(func=run)


def run(args) -> int:
    if not 32 <= args.cell <= 1024:
        raise SonolumeError("--cell must be between 32 and 1024 pixels")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise SonolumeError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SonolumeError(f"cannot create {out}: {exc.strerror or exc}") from exc
    from engine.runtime import tune_allocator

    tune_allocator()
    ctx = DemoContext(out=out, args=args)
    for title, step in STEPS:
        start = time.perf_counter()
        print(f"demo: {title} ...", flush=True)
        for path in step(ctx):
            print(f"  wrote {path}")
        print(f"  ({time.perf_counter() - start:.1f} s)")
    return 0
