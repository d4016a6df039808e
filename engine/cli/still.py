"""``sonolume still STYLE -o out.png --size WxH``: one frame of a style as an image."""

from __future__ import annotations

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
    p.add_argument("style", metavar="STYLE", help="style id or name")
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


def run(args) -> int:
    width, height = parse_size(args.size)
    path = Path(args.output).expanduser()
    output_format(path)
    check_output(path)

    from PIL import Image

    from engine.cppn.model import to_uint8
    from engine.runtime import tune_allocator
    from engine.styles.library import Library

    tune_allocator()
    style = Library(library_dir_from_args(args)).get(args.style)
    cppn = style.load_cppn()
    extras = parse_extras(args.extras, cppn.config.extra_inputs)
    image = Image.fromarray(to_uint8(cppn.render(width, height, extras)), "RGB")
    save_image_atomic(image, path)
    print(f"wrote {path} ({width}x{height}, {style.name})")
    return 0
