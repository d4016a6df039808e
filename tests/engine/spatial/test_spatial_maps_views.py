"""Patch embeddings, cache, frames and views, with a colour 'CLIP' whose answers are known."""

import numpy as np
import pytest
import torch
from spatial_fakes import ColourClip, halves, write_video

from engine.errors import SonolumeError
from engine.spatial import views
from engine.spatial.grid import make_grid
from engine.spatial.maps import (
    SpatialMap,
    cache_key,
    compute_map,
    crop_patches,
    load_picture,
    read_video_frame,
)


@pytest.fixture
def colour_clip():
    return ColourClip()


def test_crops_follow_the_grid():
    img = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3)
    grid = make_grid(60, 40, patch=20, stride=10)
    crops = crop_patches(img, grid)
    assert crops.shape == (grid.count, 3, 20, 20)
    x0, y0, x1, y1 = grid.boxes()[7]
    expect = torch.from_numpy(img[y0:y1, x0:x1]).permute(2, 0, 1).float() / 255
    assert torch.allclose(crops[7], expect)


def test_query_heatmap_finds_the_red_half(colour_clip, tmp_path):
    img = halves(128, 64)
    smap = compute_map(colour_clip, img, cache=tmp_path)
    grid = smap.grid
    assert grid.shape == (3, 7) and grid.coverage == 1.0
    assert np.allclose(np.linalg.norm(smap.embeddings, axis=1), 1, atol=1e-5)
    heat = views.query_heatmaps(smap.embeddings, colour_clip.encode_text(["red", "blue"]),
                                grid)
    assert heat.shape == (2, 3, 7)
    red, blue = heat
    assert (red[:, 0] > 0.99).all() and (red[:, -1] < 0.01).all()  # pure red / pure blue
    assert (blue[:, -1] > 0.99).all()
    assert np.allclose(red[0], red[1]) and np.allclose(red[1], red[2])  # rows alike
    assert (np.diff(red[0]) <= 1e-6).all()  # fades left to right
    rel = views.relative_heatmaps(heat)
    assert np.allclose(rel.sum(axis=0), 1.0) and rel[0, 0, 0] > 0.99


def test_click_agreement_coherence(colour_clip):
    smap = compute_map(colour_clip, halves(128, 64), cache=False)
    grid, e = smap.grid, smap.embeddings
    sim = views.patch_similarity(e, grid, 1, 0)
    assert sim[1, 0] == pytest.approx(1.0) and sim[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert sim[1, -1] < 0.1
    assert np.allclose(views.agreement(e, e, grid), 1.0, atol=1e-6)
    shuffled = e[np.random.default_rng(0).permutation(len(e))]
    assert views.agreement(shuffled, e, grid).mean() < 0.9
    assert views.neighbour_consistency(e, e, grid) == pytest.approx(1.0)
    assert views.neighbour_consistency(shuffled, e, grid) < 1.0
    flat = np.tile(e[:1], (grid.count, 1))
    assert views.coherence(flat, grid) == pytest.approx(1.0)
    assert views.coherence(e, grid) < 1.0
    cmap = views.coherence_map(e, grid)
    assert cmap.shape == grid.shape and cmap[1, 0] == pytest.approx(1.0)  # all-red corner
    one = make_grid(10, 10, patch=10)
    assert np.isnan(views.coherence(e[:1], one))


def test_cells_to_pixels_paints_every_pixel():
    grid = make_grid(100, 50, patch=20, stride=10)
    vals = np.arange(grid.count, dtype=np.float32)
    px = views.cells_to_pixels(vals, grid)
    assert px.shape == (50, 100)
    for (cx, cy), v in zip(grid.centres(), vals):
        assert px[int(cy), int(cx)] == v
    with pytest.raises(ValueError):
        views.as_cells(np.zeros(3), grid)


def test_cache_round_trip_and_keys(colour_clip, tmp_path):
    img = halves(96, 64)
    first = compute_map(colour_clip, img, cache=tmp_path)
    calls = colour_clip.calls
    again = compute_map(colour_clip, img, cache=tmp_path)
    assert again.info["cached"] and not first.info["cached"]
    assert colour_clip.calls == calls  # nothing re-encoded
    assert np.array_equal(first.embeddings, again.embeddings)
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as data:
        assert set(data.files) == {"embeddings", "boxes"}
    grid = first.grid
    other_grid = make_grid(96, 64, patch=32, stride=32)
    other_img = img.copy()
    other_img[0, 0, 1] = 1
    keys = {cache_key(img, colour_clip, grid), cache_key(img, colour_clip, other_grid),
            cache_key(other_img, colour_clip, grid)}
    assert len(keys) == 3
    files[0].write_bytes(b"not an npz")  # a broken cache file is recomputed, not fatal
    fixed = compute_map(colour_clip, img, cache=tmp_path)
    assert not fixed.info["cached"] and np.allclose(fixed.embeddings, first.embeddings)


def test_tiny_clip_end_to_end_and_map_checks(tiny_clip, tmp_path):
    img = (np.random.default_rng(0).random((72, 128, 3)) * 255).astype(np.uint8)
    smap = compute_map(tiny_clip, img, cache=tmp_path, batch_size=5)
    assert smap.embeddings.shape == (smap.grid.count, 64) and smap.random_clip
    assert "random CLIP" in smap.clip_label
    with pytest.raises(ValueError, match="grid"):
        SpatialMap(np.zeros((3, 4)), smap.grid, "x")


def test_video_frames_by_index(tmp_path):
    path = tmp_path / "clip.mp4"
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (240, 240, 20)]
    write_video(path, colours)
    for i, c in enumerate(colours):
        frame, meta = read_video_frame(path, i)
        assert frame.shape == (48, 64, 3)
        assert np.abs(frame.reshape(-1, 3).mean(0) - c).max() < 12
    with pytest.raises(SonolumeError, match="has 4 frames"):
        read_video_frame(path, 4)
    img, info = load_picture(path, 2)
    assert info == {"kind": "video", "path": str(path), "frame": 2, "fps": 10.0}


def test_load_picture_errors(tmp_path):
    from PIL import Image

    png = tmp_path / "a.png"
    Image.fromarray(halves(32, 16)).save(png)
    img, info = load_picture(png)
    assert img.shape == (16, 32, 3) and info["kind"] == "image"
    with pytest.raises(SonolumeError, match="still image"):
        load_picture(png, 3)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"nope")
    with pytest.raises(SonolumeError, match="cannot read"):
        load_picture(junk)
    with pytest.raises(SonolumeError, match="not found"):
        load_picture(tmp_path / "missing.jpg")


def test_progress_and_cancel(colour_clip):
    from engine.errors import Cancelled

    seen = []
    compute_map(colour_clip, halves(128, 64), cache=False, batch_size=8,
                on_progress=lambda d, t: seen.append((d, t)))
    assert seen == [(8, 21), (16, 21), (21, 21)]

    class After:  # stops once the first batch is done
        def is_set(self):
            return bool(seen2)

    seen2 = []
    with pytest.raises(Cancelled):
        compute_map(colour_clip, halves(128, 64), cache=False, batch_size=8,
                    on_progress=lambda d, t: seen2.append(d), cancel=After())
    assert seen2 == [8]
