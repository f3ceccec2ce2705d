"""Smaller techniques, each against a direct computation: robust DPO, proxy contrast,
multi-level SupCon, window targets, feature transformation, batch style standardisation,
bad-pair weights, score filtering of labels, and the score diagnostics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor import losses as L
from contrastor.data.views import jigsaw_task, rotation_task, standardize_styles
from contrastor.engine import WindowTargets
from contrastor.eval import (
    centroid_scores,
    link_records,
    minimal_pair_scores,
    pair_gradients,
    pool_modalities,
    similarity_distribution,
)
from contrastor.functional import StagedClusters
from contrastor.noise import LossHistory, bad_pair_weights, filter_labels_by_score
from tests import reference as ref


def _randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def test_robust_dpo_is_unbiased_under_flips(gen):
    w, l, rw, rl = (_randn(gen, 6) for _ in range(4))
    eps, beta = 0.2, 0.5
    clean = CF.robust_dpo(w, l, rw, rl, beta=beta, reduction="none")
    h = beta * ((w - rw) - (l - rl))
    torch.testing.assert_close(clean, -F.logsigmoid(h))
    kept = CF.robust_dpo(w, l, rw, rl, beta=beta, flip_rate=eps, reduction="none")
    flipped = CF.robust_dpo(l, w, rl, rw, beta=beta, flip_rate=eps, reduction="none")
    torch.testing.assert_close((1 - eps) * kept + eps * flipped, clean)  # the expectation
    with pytest.raises(ValueError, match="flip_rate"):
        CF.robust_dpo(w, l, rw, rl, flip_rate=0.5)


def test_proxy_contrast_uses_the_classes_in_the_batch(gen):
    z, proxies = _randn(gen, 5, 4), _randn(gen, 6, 4)
    y = torch.tensor([1, 4, 1, 2, 4])
    got = CF.proxy_contrast(z, y, proxies, temperature=0.3, reduction="none")
    present = [1, 2, 4]
    targets = [[float(int(y[i]) == c) for c in present] for i in range(5)]
    expected = ref.info_nce(z, proxies[present], 0.3, targets)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    with pytest.raises(ValueError, match="lie in"):
        CF.proxy_contrast(z, y + 2, proxies)
    module = L.ProxyContrast(classes=6, dim=4, temperature=0.3).double()
    with torch.no_grad():
        module.proxies.copy_(proxies)
    torch.testing.assert_close(module(z, y), got.mean())


def test_multilevel_supcon_is_the_weighted_sum_of_levels(gen):
    z = _randn(gen, 6, 2, 4)
    levels = torch.tensor([[0, 0], [0, 0], [1, 0], [1, 0], [2, 1], [3, 1]])
    got = CF.multilevel_supcon(
        z, levels, level_weights=[0.7, 0.3], temperature=0.2, reduction="none"
    )
    expected = 0.7 * CF.supcon(
        z, levels[:, 0], temperature=0.2, reduction="none"
    ) + 0.3 * CF.supcon(z, levels[:, 1], temperature=0.2, reduction="none")
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="level weights"):
        CF.multilevel_supcon(z, levels, level_weights=[1.0])


def test_window_targets_pair_nearby_positions_of_one_sequence():
    groups, positions = torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 1, 3, 0, 2])
    targets = WindowTargets(groups, positions, groups, positions, window=2)
    expected = torch.tensor(
        [
            [0, 1, 0, 0, 0],
            [1, 0, 1, 0, 0],
            [0, 1, 0, 0, 0],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 1, 0],
        ],
        dtype=torch.float32,
    )
    assert torch.equal(targets.dense(), expected)
    assert torch.equal(targets.transpose().dense(), expected.T)
    assert torch.equal(targets.block(slice(1, 3), slice(0, 2)), expected[1:3, :2])
    z = torch.randn(5, 3, dtype=torch.float64)
    loss = CF.info_nce(z, z, targets=targets, reduction="none", return_output=True)
    assert loss.mask.tolist() == [True] * 5


def test_feature_transformation(gen):
    q, k = _randn(gen, 4, 3), _randn(gen, 4, 3)
    q2, k2 = CF.extrapolate_positives(q, k, alpha=2.0, generator=torch.Generator().manual_seed(0))
    lam = (q2 - k) / (q - k)  # every coordinate gives the pair's lam
    assert torch.allclose(lam, lam[:, :1].expand_as(lam))
    assert bool(((lam[:, 0] > 1) & (lam[:, 0] < 2)).all())
    torch.testing.assert_close(k2, lam[:, :1] * k + (1 - lam[:, :1]) * q)
    negatives = _randn(gen, 8, 3)
    mixed = CF.interpolate_negatives(negatives, generator=torch.Generator().manual_seed(1))
    assert mixed.shape == negatives.shape and not mixed.requires_grad


def test_standardize_styles_swaps_amplitude_and_keeps_phase(gen):
    images = torch.rand(3, 1, 8, 8, generator=gen, dtype=torch.float64)
    out = standardize_styles(images, torch.Generator().manual_seed(0))
    amp = torch.fft.fft2(out).abs()
    assert torch.allclose(amp[0], amp[1], atol=1e-9) and torch.allclose(amp[1], amp[2], atol=1e-9)
    source = [k for k in range(3) if torch.allclose(out[k], images[k], atol=1e-9)]
    assert len(source) >= 1  # the image whose amplitude was drawn is unchanged
    phase_in, phase_out = torch.fft.fft2(images).angle(), torch.fft.fft2(out).angle()
    strong = torch.fft.fft2(out).abs() > 1e-6
    diff = torch.remainder(phase_in - phase_out + math.pi, 2 * math.pi) - math.pi
    assert diff[strong].abs().max() < 1e-6
    partial = standardize_styles(images, torch.Generator().manual_seed(0), band=0.25)
    assert partial.shape == images.shape


def test_bad_pair_weights_flag_both_tails():
    history = LossHistory(6)
    for _ in range(3):
        history.update(torch.arange(6), torch.tensor([0.1, 1.0, 1.1, 0.9, 1.0, 3.0]))
    weights = bad_pair_weights(history, low=1.0, high=1.0, weight=0.25)
    assert weights.tolist() == [0.25, 1.0, 1.0, 1.0, 1.0, 0.25]
    assert bad_pair_weights(LossHistory(3)).tolist() == [1.0, 1.0, 1.0]


def test_filter_labels_by_score():
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([[1.0, 0.1], [0.0, 1.0], [0.7, 0.7]])
    candidates = torch.tensor([[0, 1, 2], [0, 2, -1]])
    keep = filter_labels_by_score(features, labels, candidates, threshold=0.5)
    assert keep.tolist() == [[True, False, True], [False, True, False]]
    top = filter_labels_by_score(features, labels, candidates, top_k=1)
    assert top.tolist() == [[True, False, False], [False, True, False]]


def test_similarity_distribution_and_pair_gradients(gen):
    x = _randn(gen, 30, 4)
    y = x + 0.1 * _randn(gen, 30, 4)
    dist = similarity_distribution(x, y)
    assert dist["auc"] > 0.9 and len(dist["positive_histogram"]) == 20
    assert sum(dist["negative_histogram"]) == 30 * 29
    labels = torch.arange(30) % 3
    assert 0 <= similarity_distribution(x, labels=labels)["auc"] <= 1
    scores = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T
    eye = torch.eye(30, dtype=torch.bool)
    report = pair_gradients(lambda s: F.cross_entropy(s / 0.05, torch.arange(30)), scores, eye)
    g = report["gradient"]
    p = torch.softmax(scores / 0.05, 1)
    torch.testing.assert_close(g, (p - eye.double()) / 0.05 / 30)
    assert report["expected_direction"] == 1.0 and report["hard_negative_share"] > 0.1


def test_minimal_pairs_and_centroid_scores(gen):
    items = _randn(gen, 4, 2, 5)
    texts = items + 0.01 * _randn(gen, 4, 2, 5)
    assert minimal_pair_scores(items, texts) == {"text": 1.0, "input": 1.0, "group": 1.0}
    swapped = texts.flip(1)
    assert minimal_pair_scores(items, swapped)["group"] == 0.0
    benign = torch.tensor([[1.0, 0.1], [1.0, -0.1]])
    scores = centroid_scores(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), benign)
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(0.0, abs=1e-12)


def test_staged_clusters_restrict_negatives(gen):
    x = torch.cat([_randn(gen, 5, 3) + 6 * torch.eye(3, dtype=torch.float64)[k] for k in range(2)])
    stages = StagedClusters(clusters=2)
    assert stages.negative_weights(torch.arange(4)) is None
    assign = stages.next_stage(x, torch.Generator().manual_seed(0))
    assert len(set(assign[:5].tolist())) == 1 and assign[0] != assign[5]
    weights = stages.negative_weights(torch.tensor([0, 1, 5, 6])).dense()
    assert weights.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]


def test_record_linkage(gen):
    a = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99], [-1.0, 0.0]])
    pooled = pool_modalities([a, a + 0.01])
    torch.testing.assert_close(pooled.norm(dim=1), torch.ones(5))
    assert link_records(pooled, 0.95).tolist() == [0, 0, 1, 1, 2]
    chain = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.28, 0.96]])  # 0-1 and 1-2 linked, 0-2 not
    assert link_records(chain, 0.79).tolist() == [0, 0, 0]


def test_pretext_tasks():
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float64).reshape(2, 1, 4, 4)
    turned, labels = rotation_task(images)
    assert turned.shape == (8, 1, 4, 4) and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(turned[2], torch.rot90(images[0], 1, dims=(-2, -1)))
    shuffled, order = jigsaw_task(images, torch.Generator().manual_seed(0))
    assert shuffled.shape == images.shape and 0 <= int(order.max()) < 24
    for b in range(2):
        tiles = {
            tuple(images[b, 0, r : r + 2, c : c + 2].flatten().tolist())
            for r in (0, 2)
            for c in (0, 2)
        }
        got = {
            tuple(shuffled[b, 0, r : r + 2, c : c + 2].flatten().tolist())
            for r in (0, 2)
            for c in (0, 2)
        }
        assert tiles == got


def test_growing_consistency_pulls_strong_views_to_weak_ones(gen):
    views = [_randn(gen, 5, 4) for _ in range(3)]
    queue = _randn(gen, 7, 4)
    got = CF.growing_consistency(views, queue, temperature=0.5, reduction="none")
    unit_q = F.normalize(queue, dim=1)
    p = [torch.softmax(F.normalize(v, dim=1) @ unit_q.T / 0.5, dim=1) for v in views]
    kl = [(p[k - 1] * (p[k - 1].log() - p[k].log())).sum(1) for k in (1, 2)]
    torch.testing.assert_close(got, (kl[0] + kl[1]) / 2)
    leaves = [v.clone().requires_grad_() for v in views]
    CF.growing_consistency(leaves, queue).backward()
    assert (
        leaves[2].grad.abs().sum() > 0 and leaves[0].grad.abs().sum() == 0
    )  # weakest: target only
    with pytest.raises(ValueError, match="queue"):
        CF.growing_consistency(views, queue[:, :3])
