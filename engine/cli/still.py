"""``sonolume still STYLE -o out.png --size WxH``: one frame of a style as an image;
``sonolume still --morph A B --amount 0.5 -o out.png``: one in-between of a morph."""

from __future__ import annotations

import math
import os
from pathlib import Path

from engine import atomic
from engine.cli.common import library_dir_from_args, parse_size
from engine.errors import SonolumeError

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def register(sub) -> None:
    p = sub.add_parser("still", help="render a style to a PNG or JPEG image",
                       description="Render one frame of a style. The file extension picks the "
                       "format (.png or .jpg).")
    p.add_argument("style", metavar="STYLE", nargs="?", help="style id or name")
    p.add_argument("--morph", nargs=2, metavar=("A", "B"),
                   help="draw an in-between of two styles (weights interpolated) instead")
    p.add_argument("--amount", type=float, metavar="W",
                   help="with --morph: 0 is A, 1 is B (default 0.5)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="out.png or out.jpg")
    p.add_argument("--size", default="1024x1024", metavar="WxH", help="default 1024x1024")
    p.add_argument("--extras", metavar="V,V,...",
                   help="values for the CPPN's extra inputs (default all 0)")
    p.set_defaults(func=run)


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        shown = path.suffix or "no extension"
        raise SonolumeError(f"cannot tell the image format from '{path.name}' ({shown}): "
                            "use .png or .jpg")
    return fmt


def check_output(path: Path) -> None:
    if path.is_dir():
        raise SonolumeError(f"output {path} is a folder; give a file name like out.png")
    parent = path.parent
    if not parent.is_dir():
        raise SonolumeError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise SonolumeError(f"cannot write {path}: folder {parent} is not writable")


def save_image_atomic(image, path: Path) -> None:
    """Save a PIL image so the file is either the old one or the complete new one."""
    fmt = output_format(path)
    try:
        with atomic.atomic_path(path) as tmp:
            if fmt == "JPEG":
                image.save(tmp, format=fmt, quality=95, subsampling=0)
            else:
                image.save(tmp, format=fmt)
    except OSError as exc:
        raise SonolumeError(f"cannot write {path}: {exc.strerror or exc}") from exc


def parse_extras(text: str | None, count: int):
    if text is None:
        return None
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise SonolumeError(f"bad --extras '{text}': use comma-separated numbers") from None
    if len(values) != count:
        raise SonolumeError(f"this style takes {count} extra inputs, --extras gave {len(values)}")
    return values


def check_amount(amount) -> float:
    if amount is None:
        return 0.5
    if not (math.isfinite(amount) and 0.0 <= amount <= 1.0):
        raise SonolumeError(f"--amount must be a number from 0 (style A) to 1 (style B), "
                            f"got {amount:g}")
    return float(amount)


def _check_style_args(args) -> None:
    if args.morph and args.style is not None:
        raise SonolumeError("give either STYLE or --morph A B, not both")
    if not args.morph and args.style is None:
        raise SonolumeError("give a STYLE to draw (or --morph A B)")
    if args.amount is not None and not args.morph:
        raise SonolumeError("--amount goes with --morph A B")


def _morphed(library, a_key: str, b_key: str, amount: float):
    """The in-between network and a label; a note on stderr when the pair does not morph
    smoothly (a show would crossfade it), since the picture alone cannot say so."""
    import sys

    from engine.scene.morph import can_morph, morph_fallback, morph_network, shared_base

    a, b = library.get(a_key), library.get(b_key)
    ca, cb = a.load_cppn(), b.load_cppn()
    if not can_morph(ca, cb):
        def shape(c):
            cfg = c.config
            return f"{cfg.layers}x{cfg.hidden}, {cfg.extra_inputs} extra inputs"
        raise SonolumeError(f"cannot morph '{a.name}' into '{b.name}': they differ in shape "
                            f"({shape(ca)} vs {shape(cb)})")
    why = morph_fallback(ca, cb)
    if why:
        print(f"note: {why}; a show crossfades this pair. Styles trained from the shared "
              "base (the default; not --independent) morph smoothly.", file=sys.stderr)
    base = shared_base(a, b)
    label = f"{a.name} -> {b.name} at {amount:g}" + (f", both from {base}" if base else "")
    return morph_network(ca, cb, amount), label


def run(args) -> int:
    _check_style_args(args)
    amount = check_amount(args.amount) if args.morph else None
    width, height = parse_size(args.size)
    path = Path(args.output).expanduser()
    output_format(path)
    check_output(path)

    from PIL import Image

    from engine.cppn.model import to_uint8
    from engine.runtime import tune_allocator
    from engine.styles.library import Library

    tune_allocator()
    library = Library(library_dir_from_args(args))
    if args.morph:
        cppn, label = _morphed(library, *args.morph, amount)
    else:
        style = library.get(args.style)
        cppn, label = style.load_cppn(), style.name
    extras = parse_extras(args.extras, cppn.config.extra_inputs)
    image = Image.fromarray(to_uint8(cppn.render(width, height, extras)), "RGB")
    save_image_atomic(image, path)
    print(f"wrote {path} ({width}x{height}, {label})")
    return 0
