"""Rendering to PNG and the ``sonolume spatial`` command."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from spatial_fakes import halves, write_video

from engine.cli.main import main
from engine.spatial.grid import make_grid
from engine.spatial.render import (
    COLORMAPS,
    apply_colormap,
    montage,
    render_overlay,
    save_png,
)

DATA = Path(__file__).resolve().parents[2] / "data"
BUNNY = DATA / "bunny-16f-64x128.mp4"
TINY = DATA / "tiny-clip.json"


def test_colormap_ends_and_nan():
    for name, table in COLORMAPS.items():
        out = apply_colormap(np.array([0.0, 1.0, np.nan, 7.0]), name)
        assert out.dtype == np.uint8 and out.shape == (4, 3)
        assert tuple(out[0]) == table[0] and tuple(out[1]) == table[-1]
        assert tuple(out[2]) == (128, 128, 128) and tuple(out[3]) == table[-1]
    with pytest.raises(ValueError, match="unknown colormap"):
        apply_colormap(np.zeros(2), "jet")


def test_overlay_paints_values_where_the_patches_are():
    img = np.full((64, 128, 3), 128, dtype=np.uint8)
    grid = make_grid(128, 64)
    values = np.zeros(grid.shape)
    values[:, : grid.cols // 2] = 1.0  # left high
    out = render_overlay(img, values, grid, "viridis", "t", alpha=1.0, show_grid=False,
                         show_values=False, min_side=128, max_side=128)
    assert out.dtype == np.uint8 and out.ndim == 3
    # the picture sits below the title bar and left of the colour bar, at scale 1
    h = out.shape[0]
    top = h - 10 - 64
    left_px = out[top + 32, 5]
    right_px = out[top + 32, 120]
    assert np.abs(left_px.astype(int) - COLORMAPS["viridis"][-1]).max() <= 2
    assert np.abs(right_px.astype(int) - COLORMAPS["viridis"][0]).max() <= 2
    assert out.shape[1] > 128  # the colour bar is there


def test_overlay_scales_small_frames_and_marks_warnings():
    img = halves(64, 32)
    grid = make_grid(64, 32)
    plain = render_overlay(img, np.zeros(grid.count), grid, title="x")
    warned = render_overlay(img, np.zeros(grid.count), grid, title="x", warning="random CLIP",
                            highlight=(0, 1))
    assert plain.shape[1] >= 480  # upscaled for legibility
    assert warned.shape[0] > plain.shape[0]  # the warning gets its own line
    assert (warned[..., 0] == 255).any()  # the red highlight outline
    with pytest.raises(ValueError, match="does not match"):
        render_overlay(img[:10], np.zeros(grid.count), grid)
    one = make_grid(20, 20, patch=20)
    render_overlay(np.zeros((20, 20, 3), np.uint8), np.array([np.nan]), one)


def test_montage_and_png_text(tmp_path):
    a = np.zeros((10, 20, 3), np.uint8)
    b = np.full((30, 5, 3), 255, np.uint8)
    m = montage([a, b, a], columns=2, gap=2)
    assert m.shape == (2 * 30 + 2, 2 * 20 + 2, 3)
    path = save_png(m, tmp_path / "sub" / "m.png", text={"Warning": "random CLIP"})
    with Image.open(path) as im:
        assert im.text["Warning"] == "random CLIP"


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "red_blue.png"
    Image.fromarray(halves(128, 64)).save(path)
    return path


def test_cli_with_random_clip_writes_png_and_json(picture, tmp_path, tiny_clip_config,
                                                  capsys, monkeypatch):
    monkeypatch.setenv("SONOLUME_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "map.png"
    rc = main(["spatial", str(picture), "--query", "a red wall", "--query", "the sea",
               "--click", "1,2", "--clip-config", str(tiny_clip_config), "-o", str(out),
               "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clip"]["random"] is True and "random CLIP" in report["clip"]["label"]
    assert "random CLIP" in report["warning"]
    assert report["grid"]["rows"] == 3 and report["grid"]["coverage"] == 1.0
    views = [p["view"] for p in report["panels"]]
    assert views == ["query", "query", "click"]
    assert report["panels"][0]["query"] == "a red wall"
    assert np.array(report["panels"][0]["values"]).shape == (3, 7)
    assert report["panels"][2]["patch"] == [1, 2]
    assert report["panels"][2]["values"][1][2] == pytest.approx(1.0, abs=1e-4)
    with Image.open(out) as im:
        assert "random CLIP" in im.text["Warning"] and "random CLIP" in im.text["CLIP"]
        assert im.size[0] > 128
    # second run reads the cache
    assert main(["spatial", str(picture), "--clip-config", str(tiny_clip_config), "-o",
                 str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cached"] is True and report["panels"][0]["view"] == "coherence"


def test_cli_patch_options_and_text_output(picture, tmp_path, tiny_clip_config, capsys):
    out = tmp_path / "m.png"
    rc = main(["spatial", str(picture), "--patch", "32", "--stride", "32", "--no-cache",
               "--query", "x", "--query", "y", "--relative",
               "--clip-config", str(tiny_clip_config), "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr()
    assert "share among the queries" in text.out and "random CLIP" in text.out
    assert "2x4 = 8 patches of 32 px" in text.err


@pytest.mark.parametrize("extra,message", [
    (["--click", "9,9"], "outside the 3x7 patch grid"),
    (["--click", "one"], "bad --click"),
    (["--frame", "2"], "still image"),
    (["--patch", "0"], "must be >= 1"),
    (["--colormap", "jet"], "unknown colormap"),
    (["-o", "map.jpg"], "must end in .png"),
])
def test_cli_errors_are_one_line(picture, tiny_clip_config, capsys, extra, message, tmp_path,
                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["spatial", str(picture), "--clip-config", str(tiny_clip_config),
               "--no-cache", *extra])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_cli_video_frame(tmp_path, tiny_clip_config, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    video = tmp_path / "v.mp4"
    write_video(video, [(200, 0, 0), (0, 200, 0), (0, 0, 200)], size=(96, 64))
    assert main(["spatial", str(video), "--frame", "1", "--clip-config",
                 str(tiny_clip_config), "--no-cache", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"]["frame"] == 1 and report["source"]["kind"] == "video"
    assert (tmp_path / "v-f1-spatial.png").is_file()


@pytest.fixture(scope="module")
def nerv_run(tmp_path_factory):
    """A tiny NeRV-CLIP run with a spatial head on the committed Bunny excerpt (2 epochs:
    what it predicts does not matter here, only that the maps line up)."""
    import torch

    from engine.clip import ClipSpec
    from engine.nerv.train import NervTrainConfig, NervTrainer

    root = tmp_path_factory.mktemp("nerv")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = NervTrainConfig(video=str(BUNNY), model="hnerv-tiny", epochs=2, eval_every=2,
                              batch_size=4, lr=5e-3, size=(64, 128), clip_head="spatial")
        NervTrainer(cfg, clip_spec=ClipSpec(config=str(TINY)), run_dir=root / "run",
                    cache_dir=root / "cache", log=None).run()
    finally:
        torch.set_num_threads(threads)
    return root / "run"


def test_cli_compares_a_nerv_runs_predicted_map_with_the_measured_one(nerv_run, tmp_path,
                                                                       capsys, monkeypatch):
    from engine.nerv import NervRun, predict_spatial_map

    monkeypatch.setenv("SONOLUME_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run.png"
    assert main(["spatial", str(BUNNY), "--run", str(nerv_run), "--frame", "3", "--query",
                 "a rabbit", "--click", "1,3", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"]["kind"] == "nerv-run" and report["source"]["frame"] == 3
    assert report["clip"]["random"] is True  # the run's own CLIP was used
    assert [p["view"] for p in report["panels"]] == [
        "query", "query_predicted", "click", "click_predicted", "agreement"]
    pred, grid_hw, frame_size = predict_spatial_map(nerv_run, 3)
    assert grid_hw == (3, 7) and frame_size == (64, 128)
    # the measured map is exactly the run's training target for that frame
    run = NervRun.open(nerv_run)
    target = run.targets()["spatial"][3].numpy()
    from engine.clip import ClipSpec, load_clip
    from engine.spatial.maps import compute_map

    clip = load_clip(ClipSpec(config=str(TINY)), warn=lambda m: None)
    true = compute_map(clip, run.original(3), run.grid, cache=False).embeddings
    target = target / np.linalg.norm(target, axis=1, keepdims=True)
    assert np.allclose(true, target, atol=1e-4)
    agree = np.array(report["panels"][-1]["values"]).ravel()
    expect = (pred * true).sum(axis=1)
    assert np.allclose(agree, expect, atol=1e-4)
    assert report["predicted"]["agreement"]["mean"] == pytest.approx(expect.mean(), abs=1e-4)
    q, qp = report["panels"][0], report["panels"][1]
    assert q["values"] != qp["values"]  # two different maps, drawn on one colour range


def test_cli_run_refuses_another_clip_and_grid_options(nerv_run, capsys):
    assert main(["spatial", str(BUNNY), "--run", str(nerv_run), "--clip", "ViT-B-32"]) == 2
    assert "trained against CLIP tiny-clip" in capsys.readouterr().err
    assert main(["spatial", str(BUNNY), "--run", str(nerv_run), "--patch", "16"]) == 2
    assert "do not apply with --run" in capsys.readouterr().err
