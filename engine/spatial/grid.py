"""The patch grid of a spatial CLIP map: pure integer maths, no torch, no images.

Rule for the default patch size (square patches; the frame's short side is ``s``)::

    patch  = clamp(round(s / 2), lo=min(MIN_PATCH, s), hi=448)
    stride = max(1, patch // 2)

So a full-size frame (short side >= 896, e.g. 1080p) gets the 448 / 224 grid, and a
smaller frame gets proportionally smaller patches: half its short side, which always
gives >= 3 patches along the short side (at 0, s/4 and s/2) and more along the long one.
Patches never go below MIN_PATCH (32 px); when the short side itself is under 32 px the
patch is the whole short side (one row or column of patches).

Edge handling ("align", the default): patches start every ``stride`` pixels and, if the
last one stops short of the far edge, one more patch is added flush with the edge, so
every pixel is covered (coverage 100%) and the extra patch overlaps its neighbour more.
"drop" keeps only the regular starts, leaving an uncovered margin that is reported.
Patches are square; a requested patch larger than the short side is clamped to it (and a
requested stride to at most the clamped patch, so clamping never opens gaps).

Patch order is row-major: index = row * cols + col.
"""

from __future__ import annotations

from dataclasses import dataclass

FULL_PATCH = 448
FULL_STRIDE = 224
MIN_PATCH = 32
EDGES = ("align", "drop")


def default_patch_stride(width: int, height: int) -> tuple[int, int]:
    """(patch, stride) from the rule in the module docstring."""
    short = min(int(width), int(height))
    if short < 1:
        raise ValueError(f"frame has no pixels: {width}x{height}")
    patch = max(min(MIN_PATCH, short), min(FULL_PATCH, int(round(short / 2))))
    return patch, max(1, patch // 2)


def starts_1d(length: int, patch: int, stride: int, edge: str = "align") -> list[int]:
    """Start offsets of patches along one axis of ``length`` pixels."""
    if edge not in EDGES:
        raise ValueError(f"edge must be one of {EDGES}, not {edge!r}")
    if length < 1 or patch < 1 or stride < 1:
        raise ValueError(f"need positive sizes, got length={length} patch={patch} "
                         f"stride={stride}")
    patch = min(patch, length)
    starts = list(range(0, length - patch + 1, stride))
    if edge == "align" and starts[-1] + patch < length:
        starts.append(length - patch)
    return starts


def covered_1d(starts: list[int], patch: int, length: int) -> int:
    """How many of ``length`` pixels lie in at least one [start, start + patch)."""
    covered, reach = 0, 0
    for s in sorted(starts):
        lo, hi = max(s, reach), min(s + patch, length)
        if hi > lo:
            covered += hi - lo
        reach = max(reach, min(s + patch, length))
    return covered


@dataclass(frozen=True)
class PatchGrid:
    width: int
    height: int
    patch: int
    stride: int
    edge: str
    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @property
    def rows(self) -> int:
        return len(self.ys)

    @property
    def cols(self) -> int:
        return len(self.xs)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols), the ``grid_hw`` the losses take."""
        return self.rows, self.cols

    @property
    def count(self) -> int:
        return self.rows * self.cols

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """(x0, y0, x1, y1) per patch, row-major, x1/y1 exclusive."""
        return [(x, y, x + self.patch, y + self.patch) for y in self.ys for x in self.xs]

    def index(self, row: int, col: int) -> int:
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise ValueError(f"patch ({row},{col}) is outside the {self.rows}x{self.cols} grid")
        return row * self.cols + col

    def row_col(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.count:
            raise ValueError(f"patch index {index} is outside 0..{self.count - 1}")
        return divmod(index, self.cols)

    def centres(self) -> list[tuple[float, float]]:
        """(cx, cy) per patch, row-major."""
        return [(x + self.patch / 2, y + self.patch / 2) for y in self.ys for x in self.xs]

    def cell_edges(self) -> tuple[list[int], list[int]]:
        """Boundaries of the display cells: the frame split at the midpoints between
        neighbouring patch centres, so each pixel belongs to the patch whose centre is
        nearest along each axis. Returns (x_edges of len cols+1, y_edges of len rows+1)."""

        def edges(starts, patch, length):
            c = [s + patch / 2 for s in starts]
            return [0] + [int(round((a + b) / 2)) for a, b in zip(c, c[1:])] + [length]

        return edges(self.xs, self.patch, self.width), edges(self.ys, self.patch, self.height)

    def patch_at(self, x: float, y: float) -> tuple[int, int]:
        """(row, col) of the display cell containing pixel (x, y) (what a click selects)."""
        xe, ye = self.cell_edges()
        col = sum(1 for e in xe[1:-1] if x >= e)
        row = sum(1 for e in ye[1:-1] if y >= e)
        return row, col

    @property
    def coverage(self) -> float:
        """Fraction of the frame's pixels inside at least one patch (separable: the grid
        is a product of the two axes)."""
        cx = covered_1d(list(self.xs), self.patch, self.width)
        cy = covered_1d(list(self.ys), self.patch, self.height)
        return (cx * cy) / (self.width * self.height)

    def params(self) -> dict:
        """What identifies the grid (for cache keys and reports)."""
        return {"width": self.width, "height": self.height, "patch": self.patch,
                "stride": self.stride, "edge": self.edge}

    def to_json(self) -> dict:
        return {**self.params(), "rows": self.rows, "cols": self.cols, "patches": self.count,
                "coverage": round(self.coverage, 6)}


def make_grid(width: int, height: int, patch: int | None = None, stride: int | None = None,
              edge: str = "align") -> PatchGrid:
    """The grid over a ``width`` x ``height`` frame. ``patch``/``stride`` default to the
    scaled rule; a given ``patch`` with no ``stride`` gets ``stride = patch // 2`` (of the
    patch after clamping to the short side)."""
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise ValueError(f"frame has no pixels: {width}x{height}")
    if patch is None:
        patch, auto_stride = default_patch_stride(width, height)
        stride = auto_stride if stride is None else stride
    patch = int(patch)
    if patch < 1 or (stride is not None and int(stride) < 1):
        raise ValueError(f"patch and stride must be >= 1 (got {patch}, {stride})")
    if patch > min(width, height):
        patch = min(width, height)
        stride = None if stride is None else min(int(stride), patch)
    stride = max(1, patch // 2) if stride is None else int(stride)
    return PatchGrid(width, height, patch, stride, edge,
                     tuple(starts_1d(width, patch, stride, edge)),
                     tuple(starts_1d(height, patch, stride, edge)))
