"""Sequence similarity strategies on constructed cases with known answers."""

import numpy as np
import pytest
import torch

from engine.similarity import (
    AttentionSimilarity,
    CombinedSimilarity,
    dtw_path,
    global_similarity,
    local_similarity,
    temporal_similarity,
)
from engine.similarity.sequence import window_starts


def smooth_sequence(t=64, d=32, seed=0, step=0.35):
    """A random walk on the sphere: neighbours alike, distant steps unlike (like video)."""
    g = torch.Generator().manual_seed(seed)
    x = [torch.randn(d, generator=g)]
    for _ in range(t - 1):
        x.append(x[-1] + step * torch.randn(d, generator=g) * x[0].norm() / d**0.5)
    return torch.stack(x)


def warp(seq, power=1.8):
    """The same content played with a non-linear clock (slow start, fast end)."""
    t = seq.shape[0]
    idx = np.floor((np.arange(t) / (t - 1)) ** power * (t - 1)).astype(int)
    return seq[torch.from_numpy(idx)]


@pytest.fixture
def seq():
    return smooth_sequence()


def test_identical_sequences_score_one_everywhere(seq):
    scaled = seq * 3.7  # any norm
    for value in (
        global_similarity(scaled, seq),
        global_similarity(scaled, seq, pool="max"),
        local_similarity(scaled, seq, window=8),
        temporal_similarity(scaled, seq),
    ):
        assert value.dim() == 0
        assert value.item() == pytest.approx(1.0, abs=1e-5)
    # attention is a soft match: ~1, exactly 1 only for unlike steps (one-hot attention)
    att = AttentionSimilarity(32)
    assert att(scaled, seq).item() == pytest.approx(1.0, abs=0.02)
    iid = torch.randn(40, 32, generator=torch.Generator().manual_seed(0))
    assert att(iid, iid).item() == pytest.approx(1.0, abs=1e-3)
    total, parts = CombinedSimilarity(32)(seq, seq)
    assert total.item() == pytest.approx(1.0, abs=0.01)
    assert set(parts) == {"global", "local", "attention", "temporal"}


def test_shuffle_fools_global_but_not_local_or_temporal(seq):
    shuffled = seq[torch.randperm(len(seq), generator=torch.Generator().manual_seed(1))]
    assert global_similarity(shuffled, seq).item() == pytest.approx(1.0, abs=1e-5)
    assert local_similarity(shuffled, seq, window=4) < 0.9
    assert temporal_similarity(shuffled, seq) < temporal_similarity(warp(seq), seq) - 0.05


def test_time_warp_ranking_temporal_forgives_local_does_not(seq):
    warped = warp(seq)
    temporal = temporal_similarity(warped, seq).item()
    local = local_similarity(warped, seq, window=4).item()
    glob = global_similarity(warped, seq).item()
    assert temporal > 0.97  # every warped step exists in the target; DTW finds it
    assert temporal > local + 0.05
    assert temporal > glob
    # and a different sequence scores lower than the warped copy on every strategy
    other = smooth_sequence(seed=7)
    assert temporal_similarity(other, seq) < temporal - 0.2
    assert local_similarity(other, seq, window=4) < local


def test_temporal_handles_different_lengths_and_matches_known_alignment():
    seq = smooth_sequence(t=20)
    slow = seq.repeat_interleave(2, dim=0)  # every step held twice: 40 steps
    assert temporal_similarity(slow, seq).item() == pytest.approx(1.0, abs=1e-5)
    rows, cols = dtw_path(np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]))
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [0, 1, 2]
    rows, cols = dtw_path(np.array([[0.0, 1], [0, 1], [1, 0]]))
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0), (1, 0), (2, 1)]


def test_local_window_is_clamped_and_covers_the_end(seq):
    short = seq[:5]
    assert local_similarity(short, short, window=16).item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(local_similarity(short * 2, seq[5:10], window=99),
                          global_similarity(short, seq[5:10]))
    assert window_starts(10, 4, 4) == [0, 4, 6]
    assert window_starts(3, 16, 8) == [0]
    with pytest.raises(ValueError, match="lengths differ"):
        local_similarity(seq[:10], seq[:12])


def test_batched_inputs_give_one_value_per_clip(seq):
    batch = torch.stack([seq, warp(seq)])
    target = torch.stack([seq, seq])
    for fn in (global_similarity, local_similarity, temporal_similarity,
               AttentionSimilarity(32)):
        out = fn(batch, target)
        assert out.shape == (2,)
        assert out[0].item() == pytest.approx(1.0, abs=0.02)
        assert torch.allclose(out[1], fn(batch[1], seq), atol=1e-5)
    total, _ = CombinedSimilarity(32)(batch, target)
    assert total.shape == (2,)


def test_gradients_flow_through_learnable_strategies(seq):
    pred = smooth_sequence(seed=3).requires_grad_(True)
    att = AttentionSimilarity(32, heads=4)
    att(pred, seq).backward()
    assert pred.grad.abs().sum() > 0
    for p in (att.q.weight, att.k.weight, att.log_scale):
        assert p.grad is not None and p.grad.abs().sum() > 0

    pred.grad = None
    comb = CombinedSimilarity(32)
    total, _ = comb(pred, seq)
    total.backward()
    assert pred.grad.abs().sum() > 0
    assert comb.log_weights.grad is not None and comb.log_weights.grad.abs().sum() > 0
    assert comb.attention.q.weight.grad.abs().sum() > 0

    # temporal (hard DTW) is differentiable through the cosines on the path
    pred2 = pred.detach().clone().requires_grad_(True)
    temporal_similarity(pred2, seq).backward()
    assert pred2.grad.abs().sum() > 0


def test_attention_learns_to_separate_related_from_unrelated():
    torch.manual_seed(0)
    att = AttentionSimilarity(16, heads=2, init_scale=1.0)
    opt = torch.optim.Adam(att.parameters(), lr=0.05)
    base = smooth_sequence(t=12, d=16, seed=2)
    before = att(base, base).item()
    for _ in range(60):
        loss = -att(base, base)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert att(base, base).item() > before + 0.01


def test_combined_weights_defaults_zero_and_fixed(seq):
    comb = CombinedSimilarity(32, learnable=False)
    w = comb.weights()
    assert w["global"] == pytest.approx(1.0 / 2.0)
    assert w["temporal"] == pytest.approx(0.2 / 2.0)
    assert not any(p is comb.log_weights for p in comb.parameters())
    no_att = CombinedSimilarity(32, use_attention=False)
    assert no_att.attention is None and "attention" not in no_att.names
    only = CombinedSimilarity(32, weights={"global": 1.0}, learnable=False)
    total, parts = only(seq, warp(seq))
    assert torch.allclose(total, parts["global"])
    with pytest.raises(ValueError):
        CombinedSimilarity(32, weights={"globl": 1.0})


def test_bad_shapes_are_clear():
    with pytest.raises(ValueError, match="embedding sizes differ"):
        global_similarity(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="pool"):
        global_similarity(torch.ones(3, 4), torch.ones(3, 4), pool="median")
    with pytest.raises(ValueError):
        AttentionSimilarity(4, heads=8)
