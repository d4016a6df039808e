"""Patch grid maths: sizes, edge handling, coverage, cells and clicks."""

import itertools

import numpy as np
import pytest

from engine.spatial.grid import (
    covered_1d,
    default_patch_stride,
    make_grid,
    starts_1d,
)


def brute_coverage(grid) -> float:
    mask = np.zeros((grid.height, grid.width), dtype=bool)
    for x0, y0, x1, y1 in grid.boxes():
        mask[y0:y1, x0:x1] = True
    return mask.mean()


def test_full_size_frames_get_448_224():
    g = make_grid(1920, 1080)
    assert (g.patch, g.stride) == (448, 224)
    assert g.shape == (4, 8) and g.count == 32
    assert g.xs == (0, 224, 448, 672, 896, 1120, 1344, 1472)  # last flush with the edge
    assert g.ys == (0, 224, 448, 632)
    assert g.coverage == 1.0
    assert make_grid(3840, 2160).patch == 448


@pytest.mark.parametrize("w,h,patch", [(1280, 720, 360), (640, 360, 180), (256, 256, 128),
                                       (64, 64, 32), (100, 40, 32), (20, 10, 10)])
def test_small_frames_scale_the_patch(w, h, patch):
    g = make_grid(w, h)
    assert g.patch == patch and g.stride == max(1, patch // 2)
    if min(w, h) >= 64:
        assert g.rows >= 3 and g.cols >= 3  # half the short side: >= 3 per axis
    assert g.coverage == 1.0


def test_default_rule_bounds():
    for s in (1, 5, 31, 32, 63, 64, 200, 895, 896, 5000):
        p, st = default_patch_stride(s, s)
        assert 1 <= p <= 448 and p <= s and st == max(1, p // 2)
        assert p >= min(32, s)


def test_edge_align_vs_drop_and_coverage_maths():
    assert starts_1d(10, 4, 4) == [0, 4, 6]
    assert starts_1d(10, 4, 4, edge="drop") == [0, 4]
    assert covered_1d([0, 4], 4, 10) == 8
    assert covered_1d([0, 4, 6], 4, 10) == 10
    assert covered_1d([0, 6], 2, 10) == 4  # gaps are not counted
    g = make_grid(1000, 500, patch=300, stride=400, edge="drop")
    assert g.xs == (0, 400) and g.ys == (0,)
    assert g.coverage == pytest.approx((600 * 300) / (1000 * 500))
    with pytest.raises(ValueError):
        starts_1d(10, 4, 4, edge="wrap")


@pytest.mark.parametrize("w,h,patch,stride,edge", [
    (97, 61, 30, 20, "align"), (97, 61, 30, 20, "drop"), (97, 61, 20, 35, "drop"),
    (50, 50, 70, None, "align"), (123, 45, None, None, "align"), (80, 33, 16, 50, "align"),
])
def test_coverage_matches_brute_force(w, h, patch, stride, edge):
    g = make_grid(w, h, patch=patch, stride=stride, edge=edge)
    assert g.coverage == pytest.approx(brute_coverage(g))
    for x0, y0, x1, y1 in g.boxes():
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert x1 - x0 == y1 - y0 == g.patch  # square, inside the frame


def test_patch_larger_than_frame_is_clamped_to_the_short_side():
    g = make_grid(300, 100, patch=448)
    assert g.patch == 100 and g.ys == (0,) and g.coverage == 1.0


def test_indices_cells_and_clicks():
    g = make_grid(640, 360)
    assert g.index(1, 2) == 1 * g.cols + 2
    assert g.row_col(g.index(2, 5)) == (2, 5)
    with pytest.raises(ValueError):
        g.index(g.rows, 0)
    xe, ye = g.cell_edges()
    assert len(xe) == g.cols + 1 and len(ye) == g.rows + 1
    assert xe[0] == 0 and xe[-1] == 640 and ye[-1] == 360
    assert all(a < b for a, b in itertools.pairwise(xe))
    for r, c in [(0, 0), (1, 3), (g.rows - 1, g.cols - 1)]:
        cx, cy = g.centres()[g.index(r, c)]
        assert g.patch_at(cx, cy) == (r, c)  # clicking a patch's centre selects it
    assert g.patch_at(0, 0) == (0, 0) and g.patch_at(639, 359) == (g.rows - 1, g.cols - 1)


def test_json_and_errors():
    j = make_grid(64, 64).to_json()
    assert j["rows"] == 3 and j["patches"] == 9 and j["coverage"] == 1.0
    with pytest.raises(ValueError):
        make_grid(0, 10)
    with pytest.raises(ValueError):
        make_grid(10, 10, patch=4, stride=0)


def test_clamped_patch_keeps_full_coverage_with_a_given_stride():
    g = make_grid(300, 100, patch=448, stride=224)
    assert g.patch == 100 and g.stride == 100 and g.coverage == 1.0
