"""Losses are minimised by matching pairs; metrics survive tiny batches."""

import pytest
import torch
import torch.nn.functional as F

from engine.similarity import (
    combined_loss,
    cosine_loss,
    cosine_summary,
    info_nce,
    recall_at_k,
    recall_from_similarity,
    siglip_loss,
    spatial_loss,
    verification_baselines,
)
from engine.similarity.losses import neighbour_pairs


def rand(n, d=16, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("loss", [info_nce, siglip_loss])
def test_contrastive_losses_prefer_matching_pairs(loss):
    a = rand(8)
    matched = loss(a, a * 2.0)
    shuffled = loss(a, a[torch.roll(torch.arange(8), 1)])
    unrelated = loss(a, rand(8, seed=5))
    assert matched < unrelated < shuffled or matched < shuffled
    assert matched < unrelated


def test_info_nce_values_known():
    a = F.normalize(rand(4), dim=-1)
    logits = a @ a.T / 0.07
    manual = F.cross_entropy(logits, torch.arange(4))
    assert info_nce(a, a).item() == pytest.approx(manual.item(), rel=1e-5)
    assert info_nce(a[:1], rand(1, seed=3)).item() == pytest.approx(0.0, abs=1e-6)


def test_siglip_gradients_reach_temperature_and_bias():
    a = rand(4).requires_grad_(True)
    t = torch.tensor(10.0, requires_grad=True)
    b = torch.tensor(-10.0, requires_grad=True)
    siglip_loss(a, rand(4, seed=1), t=t, bias=b).backward()
    assert a.grad.abs().sum() > 0 and t.grad is not None and b.grad is not None


def test_cosine_loss_zero_for_match_and_two_for_opposite():
    a = rand(5)
    assert cosine_loss(a, 3 * a).item() == pytest.approx(0.0, abs=1e-6)
    assert cosine_loss(a, -a).item() == pytest.approx(2.0, abs=1e-6)


def test_neighbour_pairs_on_a_grid():
    a, b = neighbour_pairs((2, 3))
    pairs = set(zip(a.tolist(), b.tolist()))
    assert pairs == {(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)}
    assert neighbour_pairs((1, 1))[0].numel() == 0


def test_spatial_loss_zero_for_match_and_neighbour_term_sees_structure():
    target = rand(6)  # a 2x3 grid
    total, parts = spatial_loss(target * 2, target, (2, 3))
    assert total.item() == pytest.approx(0.0, abs=1e-6)
    assert set(parts) == {"local", "neighbour", "total"}
    # the same per-patch error everywhere vs structure-breaking error of equal local cost
    noisy = target + 0.8 * rand(6, seed=9)
    t_noisy, p_noisy = spatial_loss(noisy, target, (2, 3), neighbour_weight=1.0)
    assert p_noisy["neighbour"] > 0
    assert t_noisy.item() == pytest.approx(
        (p_noisy["local"] + p_noisy["neighbour"]).item(), rel=1e-6)
    # frames axis and gradient
    seq_pred = rand(12).view(2, 6, 16).requires_grad_(True)
    total, _ = spatial_loss(seq_pred, target.expand(2, 6, 16), (2, 3))
    total.backward()
    assert seq_pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="grid"):
        spatial_loss(target, target, (2, 2))


def test_spatial_loss_minimised_by_gradient_descent():
    target = rand(9)
    pred = rand(9, seed=4).requires_grad_(True)
    opt = torch.optim.Adam([pred], lr=0.05)
    first = None
    for _ in range(200):
        loss, _ = spatial_loss(pred, target, (3, 3))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first


def test_combined_loss_weighting():
    assert combined_loss(torch.tensor(1.0), torch.tensor(2.0)).item() == pytest.approx(2.0)
    assert combined_loss(torch.tensor(1.0), torch.tensor(2.0), 0.0).item() == 1.0
    with pytest.raises(ValueError):
        combined_loss(torch.tensor(1.0), torch.tensor(2.0), -1)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_recall_at_k_tiny_batches_do_not_crash(n):
    a = rand(n)
    r = recall_at_k(a, a, ks=(1, 5, 10))
    assert r == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0}


def test_recall_at_k_known_ranks():
    t = torch.eye(4)
    # true target ranks: 1st, 2nd, 2nd, 4th (last)
    p = torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 1, 0], [0, 0, 0.3, 1], [0.3, 0.2, 0.6, 0.1]])
    r = recall_at_k(p, t, ks=(1, 2, 3, 10))
    assert r == {"R@1": 0.25, "R@2": 0.75, "R@3": 0.75, "R@10": 1.0}


def test_recall_ties_count_against_and_multilabel():
    same = torch.ones(5, 8)
    assert recall_at_k(same, same, ks=(1,))["R@1"] == 0.0  # collapsed model: no credit
    sim = torch.tensor([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    rel = torch.tensor([[False, True, True], [True, False, False]])
    r = recall_from_similarity(sim, rel, ks=(1, 2, 3))
    assert r == {"R@1": 0.0, "R@2": 0.5, "R@3": 1.0}


def test_cosine_summary_values():
    a = torch.tensor([[1.0, 0], [1, 0], [1, 0]])
    b = torch.tensor([[1.0, 0], [0, 1], [-1, 0]])
    s = cosine_summary(a, b)
    assert s["mean"] == pytest.approx(0.0) and s["min"] == -1.0 and s["max"] == 1.0
    assert s["median"] == 0.0 and s["std"] == pytest.approx((2 / 3) ** 0.5)


def test_verification_baselines_tell_learned_from_chance():
    target = rand(64, d=32)
    good = target + 0.3 * rand(64, d=32, seed=1)
    v = verification_baselines(good, target)
    assert set(v) >= {"true", "random", "shuffled_pairs", "temporal_shuffle", "margin"}
    assert v["true"] > 0.9 and abs(v["random"]) < 0.1 and v["shuffled_pairs"] < 0.2
    assert v["margin"] > 0.7
    # a head that predicts the mean target learns nothing per-sample: margin ~0
    mean = target.mean(0, keepdim=True).expand_as(target)
    assert verification_baselines(mean, target)["margin"] < 0.05
    # clips: (B, T, D) shuffles across clips and within time separately
    clips = rand(48, d=32).view(4, 12, 32)
    v3 = verification_baselines(clips, clips)
    assert v3["true"] == pytest.approx(1.0) and v3["temporal_shuffle"] < 0.3
    assert verification_baselines(good, target, seed=0) == verification_baselines(
        good, target, seed=0)
