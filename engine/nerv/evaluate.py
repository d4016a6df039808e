"""Evaluate and verify a NeRV-CLIP run.

``evaluate_run``: PSNR, MS-SSIM, CLIP-head cosine for all / train / unseen frames, the
generalisation gap (train - unseen), stability (sigma over frames), optionally CLIP's own
judgement of the reconstructions; writes ``eval/frames.csv``, ``eval/summary.json`` and
TensorBoard scalars + a histogram of the per-frame similarities under ``tb/``.

``verify_run``: did the CLIP head learn something? Its cosine against three baselines
(random embeddings, shuffled frame-embedding pairs, temporally shuffled predictions),
retrieval Recall@1/5/10 of the true frame among all frames (k clamped to the number of
candidates), and sequence similarity of the predicted vs true embedding sequences:
global / local (window 16) / temporal (DTW), combined with weights 1.0 / 0.5 / 0.2.
Everything from engine.similarity.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.atomic import write_text
from engine.errors import SonolumeError
from engine.nerv.run import EVAL_DIR, TENSORBOARD_DIR, NervRun

SEQUENCE_WEIGHTS = {"global": 1.0, "local": 0.5, "temporal": 0.2}
LOCAL_WINDOW = 16


def ms_ssim_window(frame_size: tuple[int, int]) -> int | None:
    """The largest odd Gaussian window <= 11 that pytorch_msssim's 5-scale MS-SSIM accepts
    (short side > (win - 1) * 16); None when even 3 does not fit (short side <= 32)."""
    short = min(frame_size)
    for win in (11, 9, 7, 5, 3):
        if short > (win - 1) * 16:
            return win
    return None


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mse = (pred - target).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return -10 * torch.log10(mse)


def _group_stats(values: np.ndarray, groups: dict[str, list[int]]) -> dict:
    out = {}
    for name, ids in groups.items():
        if ids:
            v = values[ids]
            out[name] = {"mean": float(v.mean()), "std": float(v.std()),
                         "min": float(v.min()), "max": float(v.max())}
    return out


@torch.no_grad()
def evaluate_run(
    run_dir: str | Path,
    checkpoint: str = "best",
    clip=None,
    write: bool = True,
    video: str | None = None,
) -> dict:
    """Full evaluation of a run (see the module docstring). ``clip`` (optional, a loaded
    ClipModel) adds ``recon_clip_similarity``: CLIP(reconstruction) vs CLIP(original)."""
    from pytorch_msssim import ms_ssim

    run = NervRun(run_dir, checkpoint, video)
    frames = run.frames_tensor()
    pred = run.predictions()
    n = run.frame_count
    groups = {"all": list(range(n)), "train": run.train_indices, "unseen": run.unseen_indices}
    psnr = _psnr(pred["rgb"], frames).numpy()
    win = ms_ssim_window(run.frame_size)
    msssim = None
    if win is not None:
        msssim = torch.cat([
            ms_ssim(pred["rgb"][i:i + 8], frames[i:i + 8], data_range=1.0,
                    size_average=False, win_size=win)
            for i in range(0, n, 8)]).numpy()
    sims = run.similarities()
    rows = {"frame": np.arange(n), "split": sims["role"], "psnr": psnr}
    if msssim is not None:
        rows["ms_ssim"] = msssim
    if "clip_similarity" in sims:
        rows["clip_similarity"] = sims["clip_similarity"]
    if "clip_similarity_min_patch" in sims:
        rows["clip_similarity_min_patch"] = sims["clip_similarity_min_patch"]
    if clip is not None:
        emb_o = torch.cat([clip.encode_image(frames[i:i + 16]) for i in range(0, n, 16)])
        emb_r = torch.cat([clip.encode_image(pred["rgb"][i:i + 16]) for i in range(0, n, 16)])
        rows["recon_clip_similarity"] = F.cosine_similarity(emb_r, emb_o, dim=-1).numpy()

    summary = {
        "run": str(run.run_dir), "checkpoint": run.checkpoint, "epoch": run.epoch,
        "frames": n, "frame_size": list(run.frame_size), "split": run.info["split"]["text"],
        "model": run.info["model"]["description"], "trained_on": run.trained_on,
        "clip": run.clip_label, "random_clip": run.random_clip,
        "clip_head": run.config.clip_head,
        "ms_ssim_win_size": win,
        "ms_ssim_note": (f"pytorch_msssim MS-SSIM, 5 scales, Gaussian window {win}"
                         if win else "MS-SSIM needs a short side > 32 px; not computed"),
    }
    for key in ("psnr", "ms_ssim", "clip_similarity", "recon_clip_similarity"):
        if key in rows:
            summary[key] = _group_stats(np.asarray(rows[key], dtype=np.float64), groups)
    gap, stability = {}, {}
    for key in ("psnr", "ms_ssim", "clip_similarity", "recon_clip_similarity"):
        st = summary.get(key)
        if st and "train" in st and "unseen" in st:
            gap[key] = st["train"]["mean"] - st["unseen"]["mean"]
        if st:
            stability[key] = st["all"]["std"]
    summary["generalisation_gap"] = gap  # train mean - unseen mean
    summary["stability"] = stability  # sigma over all frames
    if write:
        _write_eval(run, rows, summary)
    summary["per_frame"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                            for k, v in rows.items()}
    return summary


def _write_eval(run: NervRun, rows: dict, summary: dict) -> None:
    out = run.run_dir / EVAL_DIR
    out.mkdir(parents=True, exist_ok=True)
    keys = list(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys)
    for i in range(len(rows["frame"])):
        w.writerow([_fmt(rows[k][i]) for k in keys])
    write_text(out / "frames.csv", buf.getvalue())
    write_text(out / "summary.json", json.dumps(summary, indent=1))
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run.run_dir / TENSORBOARD_DIR))
    step = run.epoch
    for key in ("psnr", "ms_ssim", "clip_similarity", "recon_clip_similarity"):
        for group, st in (summary.get(key) or {}).items():
            tag = f"eval/clip_similarity_{group}" if key == "clip_similarity" \
                else f"eval/{key}_{group}"
            writer.add_scalar(tag, st["mean"], step)
    for key, v in summary["generalisation_gap"].items():
        writer.add_scalar(f"eval/gap_{key}", v, step)
    if "clip_similarity" in rows:
        writer.add_histogram("eval/clip_similarity_hist",
                             np.asarray(rows["clip_similarity"], dtype=np.float64), step)
    writer.close()


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6f}"
    if isinstance(v, np.integer):
        return int(v)
    return v


def text_histogram(values, bins: int = 10, width: int = 40) -> list[str]:
    """A small ASCII histogram (for the CLI)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return []
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12:
        return [f"  {lo:.5f} | {'#' * width} {values.size}"]
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    top = max(counts.max(), 1)
    return [f"  {edges[i]:.5f}-{edges[i + 1]:.5f} | {'#' * math.ceil(width * c / top):<{width}}"
            f" {c}" for i, c in enumerate(counts)]


# -- verification ------------------------------------------------------------------------------


@torch.no_grad()
def verify_run(run_dir: str | Path, checkpoint: str = "best", seed: int = 0,
               video: str | None = None, write: bool = True) -> dict:
    from engine.similarity import (
        CombinedSimilarity,
        recall_at_k,
        verification_baselines,
    )

    run = NervRun(run_dir, checkpoint, video)
    head = run.config.clip_head
    key = f"clip_{head}"
    if head == "none":
        raise SonolumeError("this run has no CLIP head to verify (train with --clip-head "
                            "global or spatial)")
    pred_all = run.predictions()[key]
    tgt_all = run.targets().get(head)
    if tgt_all is None:
        raise SonolumeError(f"{run.run_dir} lacks its CLIP targets ({run.run_dir}/targets.npz)")
    pred_all, tgt_all = F.normalize(pred_all, dim=-1), F.normalize(tgt_all, dim=-1)
    # Frame level: a spatial head's map is compared through its mean embedding.
    pred = pred_all if pred_all.dim() == 2 else F.normalize(pred_all.mean(dim=1), dim=-1)
    tgt = tgt_all if tgt_all.dim() == 2 else F.normalize(tgt_all.mean(dim=1), dim=-1)
    n = run.frame_count
    groups = {"all": list(range(n)), "train": run.train_indices, "unseen": run.unseen_indices}
    report = {"run": str(run.run_dir), "checkpoint": run.checkpoint, "epoch": run.epoch,
              "clip": run.clip_label, "random_clip": run.random_clip, "clip_head": head,
              "frames": n, "baselines": {}, "retrieval": {}, "sequence": {}}
    for name, ids in groups.items():
        if len(ids) < 2:
            continue
        report["baselines"][name] = verification_baselines(pred[ids], tgt[ids], seed=seed)
        r = recall_at_k(pred[ids], tgt[ids], ks=(1, 5, 10))
        r["candidates"] = len(ids)
        report["retrieval"][name] = r
    if pred_all.dim() == 3:
        # Patch level: (N, P, D) as N "clips" of P patches: other frames' maps, and this
        # frame's patches in shuffled positions.
        b = verification_baselines(pred_all, tgt_all, seed=seed)
        report["baselines_patches"] = {"true": b["true"], "random": b["random"],
                                       "shuffled_frames": b["shuffled_pairs"],
                                       "shuffled_patches": b["temporal_shuffle"],
                                       "margin": b["margin"]}
    seq = CombinedSimilarity(pred.shape[-1], weights=SEQUENCE_WEIGHTS, learnable=False,
                             use_attention=False, window=LOCAL_WINDOW)
    gen = torch.Generator().manual_seed(seed + 17)
    shuffled = pred[torch.randperm(n, generator=gen)]
    for label, p in (("predicted", pred), ("temporal_shuffle", shuffled)):
        combined, parts = seq(p, tgt)
        report["sequence"][label] = {"combined": float(combined),
                                     **{k: float(v) for k, v in parts.items()}}
    report["sequence"]["weights"] = dict(SEQUENCE_WEIGHTS)
    report["sequence"]["local_window"] = LOCAL_WINDOW
    if run._sequence_state:
        learned = CombinedSimilarity(pred.shape[-1], learnable=True,
                                     weights={**SEQUENCE_WEIGHTS, "attention": 0.3})
        try:
            learned.load_state_dict(run._sequence_state)
            combined, parts = learned(pred, tgt)
            report["sequence"]["learned"] = {
                "combined": float(combined), **{k: float(v) for k, v in parts.items()},
                "weights": learned.weights()}
        except RuntimeError:
            pass
    all_b = report["baselines"].get("all", {})
    report["beats_all_baselines"] = bool(all_b) and all_b["margin"] > 0
    if write:
        (run.run_dir / EVAL_DIR).mkdir(parents=True, exist_ok=True)
        write_text(run.run_dir / EVAL_DIR / "verify.json", json.dumps(report, indent=1))
    return report
