"""Noise simulators recover their ground truth; detectors find generated noise; the detection
metrics match brute force."""

from __future__ import annotations

import math

import pytest
import torch

from contrastor.eval.auc import auroc, average_precision
from contrastor.noise import (
    LossHistory,
    detection_report,
    flip_labels,
    gmm_clean_probability,
    inject_near_duplicates,
    knn_label_agreement,
    linear_separation,
    shuffle_pairs,
    small_loss_selection,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 1.0])
def test_shuffle_pairs_mismatches_exactly_the_chosen_share(fraction):
    c = shuffle_pairs(100, fraction, generator=_gen())
    assert int(c.noisy.sum()) == round(100 * fraction)
    assert sorted(c.partner.tolist()) == list(range(100))  # a permutation
    refs = torch.arange(100.0)[:, None] * torch.ones(1, 3)
    moved = c.apply(refs)
    assert torch.equal(c.restore(moved), refs)
    assert torch.equal(moved[:, 0] != refs[:, 0], c.noisy)
    again = shuffle_pairs(100, fraction, generator=_gen())
    assert torch.equal(again.partner, c.partner)


def test_symmetric_and_asymmetric_label_flips():
    labels = torch.arange(200) % 10
    sym = flip_labels(labels, 0.4, generator=_gen())
    assert int(sym.noisy.sum()) == 80 and bool((sym.labels[sym.noisy] != labels[sym.noisy]).all())
    assert torch.equal(sym.restore(), labels) and sym.labels.max() < 10
    mapping = (torch.arange(10) + 1) % 10
    asym = flip_labels(labels, 0.4, mapping=mapping, generator=_gen())
    assert torch.equal(asym.labels[asym.noisy], mapping[labels[asym.noisy]])
    assert int(asym.noisy.sum()) == 80
    with pytest.raises(ValueError, match="fraction"):
        flip_labels(labels, 1.5)


def test_near_duplicates_are_marked_and_restorable():
    x = torch.randn(50, 4, generator=_gen(), dtype=torch.float64)
    c = inject_near_duplicates(x, 0.2, noise_std=0.01, generator=_gen())
    assert c.data.shape == (60, 4) and int(c.duplicate.sum()) == 10
    assert torch.equal(c.restore(), x)
    copies = c.data[c.duplicate]
    assert torch.allclose(copies, x[c.source[c.duplicate]], atol=0.1)
    same = c.same_source()
    assert int(same.sum()) == 60 + 2 * 10  # the diagonal and each copy-original pair twice


def test_auroc_and_average_precision_match_brute_force():
    g = _gen(1)
    scores = torch.randint(0, 6, (40,), generator=g).double()  # many ties
    positive = torch.rand(40, generator=g) < 0.4
    pos, neg = scores[positive].tolist(), scores[~positive].tolist()
    pairs = [(1.0 if p > q else 0.5 if p == q else 0.0) for p in pos for q in neg]
    assert math.isclose(auroc(scores, positive), sum(pairs) / len(pairs), rel_tol=1e-12)
    order = sorted(range(40), key=lambda i: (-scores[i].item(), i))
    hits, precisions = 0, []
    for rank, i in enumerate(order, 1):
        if positive[i]:
            hits += 1
            precisions.append(hits / rank)
    assert math.isclose(average_precision(scores, positive), sum(precisions) / len(precisions))
    with pytest.raises(ValueError, match="one positive and one negative"):
        auroc(scores, torch.ones(40, dtype=torch.bool))


def test_gmm_and_small_loss_separate_bimodal_losses():
    g = _gen(2)
    noisy = torch.rand(300, generator=g) < 0.3
    losses = torch.where(noisy, 3.0, 1.0) + 0.3 * torch.randn(300, generator=g)
    clean = gmm_clean_probability(losses)
    report = detection_report(clean, noisy)
    assert report["auroc"] > 0.99 and report["precision"] > 0.95
    assert bool((clean[~noisy] > 0.5).float().mean() > 0.95)
    kept = small_loss_selection(losses, 0.7)
    assert int(kept.sum()) == 210 and float((kept & noisy).sum()) / 210 < 0.05


def test_knn_agreement_flags_flipped_labels():
    g = _gen(3)
    centres = 5.0 * torch.eye(8, dtype=torch.float64)
    labels = torch.arange(400) % 8
    features = centres[labels] + torch.randn(400, 8, generator=g, dtype=torch.float64)
    flipped = flip_labels(labels, 0.4, generator=g)
    agreement = knn_label_agreement(features, flipped.labels, k=15)
    assert detection_report(agreement, flipped.noisy)["auroc"] > 0.95


def test_knn_label_margin_against_a_direct_count_and_above_half_noise():
    """The margin is (1 + own share - largest other share) / 2, counted directly; at 60%
    symmetric noise the share calls most clean samples noisy, the margin keeps them."""
    g = _gen(5)
    centres = 5.0 * torch.eye(6, dtype=torch.float64)
    labels = torch.arange(600) % 6
    features = centres[labels] + torch.randn(600, 6, generator=g, dtype=torch.float64)
    flipped = flip_labels(labels, 0.6, generator=g)
    y, k = flipped.labels, 25
    got = knn_label_agreement(features, y, k=k, margin=True)
    f = torch.nn.functional.normalize(features, dim=1)
    sims = (f @ f.T).fill_diagonal_(-2.0)
    idx = sims.topk(k, dim=1).indices
    for i in range(0, 600, 37):
        counts = torch.bincount(y[idx[i]], minlength=6).double() / k
        own = counts[y[i]].item()
        counts[y[i]] = 0
        assert got[i].item() == pytest.approx((1 + own - counts.max().item()) / 2)
    share = knn_label_agreement(features, y, k=k)
    clean = ~flipped.noisy
    assert (share[clean] >= 0.5).double().mean() < 0.5
    assert (got[clean] >= 0.5).double().mean() > 0.9
    assert (got[flipped.noisy] < 0.5).double().mean() > 0.9


def test_linear_separation_refines_a_rough_guess():
    g = _gen(4)
    noisy = torch.rand(400, generator=g) < 0.4
    features = torch.randn(400, 6, generator=g, dtype=torch.float64)
    features[noisy, 0] += 3.0  # out-of-distribution samples sit apart along one direction
    rough = torch.rand(400, generator=g) < torch.where(noisy, 0.35, 0.75)  # a weak first guess
    probability = linear_separation(features, rough, rounds=3)
    assert detection_report(rough.double(), noisy)["auroc"] < 0.75
    assert detection_report(probability, noisy)["auroc"] > 0.95


def test_loss_history_statistics_and_checkpoint():
    history = LossHistory(6, start=1)
    index = torch.tensor([0, 2, 5])
    history.update(index, torch.tensor([9.0, 9.0, 9.0]))  # warm-up: skipped
    history.update(index, torch.tensor([1.0, 2.0, 3.0]))
    history.update(index, torch.tensor([[3.0, 3.0], [2.0, 2.0], [5.0, 5.0]]))  # views averaged
    assert torch.allclose(history.mean()[index], torch.tensor([2.0, 2.0, 4.0], dtype=torch.float64))
    assert torch.allclose(history.std()[index], torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    assert history.seen().tolist() == [True, False, True, False, False, True]
    other = LossHistory(6, start=1)
    other.load_state_dict(history.state_dict())
    assert torch.equal(other.mean()[index], history.mean()[index]) and int(other.updates) == 3
