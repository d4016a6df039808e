"""Named output sizes: one registry, read by the CLI (``--size 720p``), the app's export
dialog and the export itself, so a new size is added in one place.

Each entry is data with a description, like open_clip's model registry: front ends list
:data:`OUTPUT_SIZES` instead of keeping their own copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import SonolumeError

#: The largest side any renderer, encoder or the app accepts.
MAX_SIDE = 8192
MIN_SIDE = 16


@dataclass(frozen=True)
class OutputSize:
    """A named video size. ``label`` is what a menu shows; ``description`` says what it is
    for."""

    name: str
    width: int
    height: int
    label: str
    description: str

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def text(self) -> str:
        return f"{self.width}x{self.height}"


OUTPUT_SIZES: dict[str, OutputSize] = {s.name: s for s in (
    OutputSize("1080p", 1920, 1080, "1080p landscape — 1920×1080",
               "full HD, the usual upload size"),
    OutputSize("720p", 1280, 720, "720p landscape — 1280×720",
               "HD; a quarter fewer pixels than 1080p to draw (the default)"),
    OutputSize("vertical", 1080, 1920, "Vertical — 1080×1920 (phone stories)",
               "portrait for phone stories and reels"),
    OutputSize("square", 1080, 1080, "Square — 1080×1080", "square posts"),
    OutputSize("4k", 3840, 2160, "4K landscape — 3840×2160",
               "UHD; 4x the pixels of 1080p: for a GPU"),
)}
DEFAULT_SIZE = "720p"

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


def parse_output_size(text: str) -> tuple[int, int]:
    """A size name (``720p``) or ``WIDTHxHEIGHT`` -> (width, height), with one clear error
    for anything else. Whether the encoder accepts it (even sides) is the export's check."""
    named = OUTPUT_SIZES.get(str(text or "").strip().lower())
    if named is not None:
        return named.size
    m = _SIZE.match(str(text or ""))
    if not m:
        raise SonolumeError(f"bad size '{text}': use WIDTHxHEIGHT, e.g. 1280x720, or a name: "
                            f"{', '.join(OUTPUT_SIZES)}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise SonolumeError(f"bad size '{text}': each side must be {MIN_SIDE} to {MAX_SIDE}")
    return w, h
