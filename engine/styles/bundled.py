"""The bundled starter set: seeded, UNTRAINED CPPN patterns shipped in ``styles/``.

None of these saw CLIP or a prompt: each is a freshly initialised CPPN (fixed seed and init
gains), with its output layer scaled per channel (contrast) and biased (palette) so the set
spans distinct colour moods. The parameters were picked by eye from contact sheets of many
seeds. Names start with "Seeded pattern" and ``trained`` is false, so nobody mistakes them
for prompt-trained styles.

Regenerate (byte-for-byte reproducible on the same torch build)::

    python -m engine.styles.bundled            # rewrites styles/ and styles/contact_sheet.png
    python -m engine.styles.bundled --check    # verify styles/ matches this file
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine import atomic
from engine.cppn.model import CPPN, CPPNConfig
from engine.styles.library import BUNDLED_DIR, slugify
from engine.styles.style import META, WEIGHTS, read_style, write_style

GENERATOR = "engine.styles.bundled"
CREATED = "2026-11-23T00:00:00Z"  # fixed so regeneration is reproducible


@dataclass(frozen=True)
class Seeded:
    number: int
    title: str
    seed: int
    layers: int
    first_gain: float
    hidden_gain: float
    out_gain: tuple[float, float, float]
    out_bias: tuple[float, float, float]

    @property
    def name(self) -> str:
        return f"Seeded pattern {self.number:02d} - {self.title}"

    @property
    def id(self) -> str:
        return slugify(self.name)

    def config(self) -> CPPNConfig:
        return CPPNConfig(layers=self.layers, first_gain=self.first_gain,
                          hidden_gain=self.hidden_gain)

    def build(self) -> CPPN:
        cppn = CPPN(self.config(), seed=self.seed)
        with torch.no_grad():
            cppn.out.weight.mul_(torch.tensor(self.out_gain)[:, None])
            cppn.out.bias.copy_(torch.tensor(self.out_bias))
        return cppn.eval()

    def meta(self) -> dict:
        return {
            "name": self.name,
            "prompts": [],
            "negatives": [],
            "image_prompt": None,
            "clip": None,
            "schedule": [],
            "cutouts": None,
            "seed": self.seed,
            "score": None,
            "created": CREATED,
            "trained": False,
            "favourite": False,
            "extra": {
                "generator": GENERATOR,
                "description": "Untrained seeded CPPN pattern (no prompt, no CLIP).",
                "out_gain": list(self.out_gain),
                "out_bias": list(self.out_bias),
            },
        }


SEEDED = [
    Seeded(1, "Ember rings", 101, 4, 2.0, 1.25, (1.4, 1.4, 1.0), (1.2, -0.4, -1.6)),
    Seeded(2, "Deep ocean swirl", 42, 4, 1.0, 1.6, (1.0, 1.4, 1.4), (-1.6, 0.0, 1.0)),
    Seeded(3, "Violet nebula", 57, 4, 0.7, 1.0, (1.8, 1.8, 1.8), (0.4, -1.0, 0.8)),
    Seeded(4, "Pastel mosaic", 77, 4, 3.5, 1.0, (1.5, 1.5, 1.5), (0.0, 0.0, 0.0)),
    Seeded(5, "Moss shadows", 7, 3, 1.0, 1.0, (1.4, 1.8, 1.4), (-0.6, 0.6, -1.0)),
    Seeded(6, "Candy blobs", 77, 2, 1.5, 1.0, (1.6, 1.6, 1.6), (0.5, -0.2, 0.4)),
    Seeded(7, "Opal weave", 1, 4, 5.0, 0.7, (2.5, 2.5, 2.5), (0.6, -0.8, -0.2)),
    Seeded(8, "Ice marble", 101, 4, 1.5, 1.25, (1.0, 1.0, 1.0), (-0.3, 0.5, 1.1)),
    Seeded(9, "Gold leaf", 1, 4, 3.5, 1.0, (1.3, 1.3, 1.0), (0.9, 0.4, -1.2)),
    Seeded(10, "Dusk bloom", 7, 3, 1.5, 1.2, (1.5, 1.5, 1.5), (0.6, -0.7, 0.3)),
]


def generate(out_dir: Path = BUNDLED_DIR, log=print, thumbs: bool = True) -> list[Path]:
    """(Re)write every bundled style into ``out_dir``; drop generated ones no longer listed.
    ``thumbs=False`` skips rendering thumbnails (for :func:`check`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {s.id for s in SEEDED}
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir()):
        if folder.name not in wanted and (folder / META).is_file():
            try:
                generated = read_style(folder).meta["extra"].get("generator") == GENERATOR
            except Exception:
                generated = False
            if generated:
                shutil.rmtree(folder)
                log(f"removed {folder.name}")
    paths = []
    for spec in SEEDED:
        folder = out_dir / spec.id
        thumb = None if thumbs else np.zeros((1, 1, 3), np.uint8)
        write_style(folder, spec.build(), spec.meta(), thumb=thumb, overwrite=True)
        paths.append(folder)
        log(f"wrote {folder}")
    return paths


def check(out_dir: Path = BUNDLED_DIR) -> list[str]:
    """Differences between ``out_dir`` and a fresh generation (empty when in sync)."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), log=lambda _msg: None, thumbs=False)
        for spec in SEEDED:
            mine, fresh = Path(out_dir) / spec.id, Path(tmp) / spec.id
            if not mine.is_dir():
                problems.append(f"{spec.id}: missing")
                continue
            for name in (META, WEIGHTS):
                if (mine / name).read_bytes() != (fresh / name).read_bytes():
                    problems.append(f"{spec.id}/{name}: differs from a fresh generation")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.styles.bundled",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR,
                        help=f"output folder (default {BUNDLED_DIR})")
    parser.add_argument("--check", action="store_true",
                        help="only verify that the folder matches a fresh generation")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="also write a contact sheet PNG here")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.out)
        for p in problems:
            print(p, file=sys.stderr)
        print("bundled styles are in sync" if not problems else f"{len(problems)} differences")
        return 1 if problems else 0
    generate(args.out)
    if args.sheet:
        from engine.styles.contact import contact_sheet

        sheet = contact_sheet([(f"{s.name}\nseed {s.seed}, {s.layers} layers, gains "
                                f"{s.first_gain}/{s.hidden_gain}", s.build()) for s in SEEDED],
                              cell=256, columns=5)
        with atomic.atomic_path(args.sheet) as tmp:
            sheet.save(tmp, format="PNG")
        print(f"wrote {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
