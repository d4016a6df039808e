import csv
import json

import numpy as np
import pytest
import torch

from engine.clip import ClipSpec
from engine.errors import SonolumeError
from engine.nerv import NervRun, evaluate_run, ms_ssim_window, predict_spatial_map, verify_run
from engine.nerv.data import load_frames
from engine.nerv.train import NervTrainConfig, NervTrainer


def _train(tmp_path_factory, video, cache, clip_config, name, **kw):
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp(name) / "run"
    cfg = dict(video=str(video), model="nerv-tiny", epochs=4, eval_every=2, batch_size=2,
               lr=5e-3)
    cfg.update(kw)
    NervTrainer(NervTrainConfig(**cfg), clip_spec=ClipSpec(config=str(clip_config)),
                run_dir=run_dir, cache_dir=cache, log=None).run()
    return run_dir


@pytest.fixture(scope="module")
def global_run(tmp_path_factory, bunny, nerv_cache, tiny_clip_config):
    # 64x128: the smallest size at which 5-scale MS-SSIM runs (window 3)
    return _train(tmp_path_factory, bunny, nerv_cache, tiny_clip_config, "global",
                  size=(64, 128), clip_head="global")


@pytest.fixture(scope="module")
def spatial_run(tmp_path_factory, synth_video, nerv_cache, tiny_clip_config):
    return _train(tmp_path_factory, synth_video, nerv_cache, tiny_clip_config, "spatial",
                  size=(32, 64), clip_head="spatial", model="hnerv-tiny")


def test_ms_ssim_window_fits_the_frame():
    assert ms_ssim_window((32, 64)) is None
    assert ms_ssim_window((64, 128)) == 3
    assert ms_ssim_window((128, 256)) == 7
    assert ms_ssim_window((720, 1280)) == 11


def test_eval_writes_per_frame_csv_summary_and_tensorboard(global_run, tiny_clip):
    s = evaluate_run(global_run, clip=tiny_clip)
    rows = list(csv.DictReader(open(global_run / "eval" / "frames.csv")))
    assert len(rows) == 16
    assert set(rows[0]) == {"frame", "split", "psnr", "ms_ssim", "clip_similarity",
                            "recon_clip_similarity"}
    assert [r["split"] for r in rows[:5]] == ["train"] * 4 + ["unseen"]
    summary = json.loads((global_run / "eval" / "summary.json").read_text())
    assert summary["ms_ssim_win_size"] == 3 and "window 3" in summary["ms_ssim_note"]
    assert summary["random_clip"] and "random CLIP" in summary["clip"]
    psnr = np.array([float(r["psnr"]) for r in rows])
    assert summary["psnr"]["all"]["mean"] == pytest.approx(psnr.mean(), abs=1e-4)
    gap = summary["psnr"]["train"]["mean"] - summary["psnr"]["unseen"]["mean"]
    assert summary["generalisation_gap"]["psnr"] == pytest.approx(gap)
    assert summary["stability"]["clip_similarity"] == pytest.approx(
        np.std([float(r["clip_similarity"]) for r in rows]), abs=1e-5)
    assert 0 < summary["ms_ssim"]["all"]["mean"] <= 1
    assert s["per_frame"]["psnr"][0] == pytest.approx(psnr[0], abs=1e-5)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(global_run / "tb"), size_guidance={"histograms": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/pixel_loss", "train/clip_loss", "train/total_loss",
            "eval/clip_similarity_all", "eval/clip_similarity_train",
            "eval/clip_similarity_unseen", "eval/psnr_train"} <= tags
    assert [e.step for e in acc.Scalars("train/total_loss")] == [1, 2, 3, 4]
    assert "eval/clip_similarity_hist" in acc.Tags()["histograms"]


def test_run_api_for_the_gui(global_run, bunny):
    run = NervRun.open(global_run)
    assert run.frame_count == 16 and run.frame_size == (64, 128)
    assert run.checkpoint == "best" and run.random_clip
    original = run.original(3)
    assert np.array_equal(original, load_frames(bunny, (64, 128))[3])
    rec = run.reconstruction(3)
    assert rec.shape == (64, 128, 3) and rec.dtype == np.uint8
    sims = run.similarities()
    assert sims["psnr"].shape == (16,) and sims["clip_similarity"].shape == (16,)
    assert list(sims["role"][:5]) == ["train"] * 4 + ["unseen"]
    mse = ((rec.astype(float) - original) ** 2).mean() / 255**2
    assert sims["psnr"][3] == pytest.approx(-10 * np.log10(mse), abs=0.3)
    assert run.predicted_embedding(0).shape == (64,)
    with pytest.raises(SonolumeError, match="outside"):
        run.original(16)
    with pytest.raises(SonolumeError, match="spatial"):
        predict_spatial_map(global_run, 0)


def test_predict_spatial_map(spatial_run):
    emb, grid_hw, frame_size = predict_spatial_map(spatial_run, 5)
    assert grid_hw == (1, 3) and frame_size == (32, 64)
    assert emb.shape == (3, 64)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    again, _, _ = predict_spatial_map(spatial_run, 5)
    assert np.array_equal(emb, again)


def test_verify_reports_baselines_retrieval_and_sequences(spatial_run):
    r = verify_run(spatial_run)
    for group in ("all", "train", "unseen"):
        b = r["baselines"][group]
        assert {"true", "random", "shuffled_pairs", "temporal_shuffle", "margin"} <= set(b)
        assert set(r["retrieval"][group]) == {"R@1", "R@5", "R@10", "candidates"}
    assert r["retrieval"]["unseen"]["candidates"] == 3
    assert r["retrieval"]["unseen"]["R@5"] == 1.0  # k clamped to 3 candidates
    assert set(r["baselines_patches"]) >= {"shuffled_frames", "shuffled_patches"}
    seq = r["sequence"]
    assert seq["weights"] == {"global": 1.0, "local": 0.5, "temporal": 0.2}
    assert set(seq["predicted"]) == {"combined", "global", "local", "temporal"}
    assert -1 <= seq["predicted"]["combined"] <= 1
    assert json.loads((spatial_run / "eval" / "verify.json").read_text())["frames"] == 16
