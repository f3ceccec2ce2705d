"""STS correlation, zero-shot accuracy, isotropy, ROC and per-query AUC, and kNN label
agreement against a trusted set, each against an independent computation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastor.eval import (
    isotropy,
    partition_isotropy,
    per_query_auc,
    prompt_ensemble,
    roc_curve,
    sts_correlation,
    zero_shot_accuracy,
)
from contrastor.eval.auc import auroc
from contrastor.noise import knn_label_agreement


def _ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def test_sts_correlation_matches_a_plain_computation(gen):
    a, b = torch.randn(12, 5, generator=gen), torch.randn(12, 5, generator=gen)
    gold = torch.tensor([0.0, 1, 1, 2, 5, 3, 3, 4, 0.5, 2, 1, 5])  # ties included
    got = sts_correlation(a, b, gold)
    cos = F.cosine_similarity(a.double(), b.double()).tolist()
    assert got["pearson"] == pytest.approx(_pearson(cos, gold.tolist()), abs=1e-12)
    expected = _pearson(_ranks(cos), _ranks(gold.tolist()))
    assert got["spearman"] == pytest.approx(expected, abs=1e-12)
    assert sts_correlation(a, a, gold)["spearman"] != sts_correlation(a, b, gold)["spearman"]
    with pytest.raises(ValueError, match="gold"):
        sts_correlation(a, b, gold[:3])


def test_zero_shot_accuracy_and_prompt_ensemble(gen):
    classes = F.normalize(torch.randn(4, 6, generator=gen), dim=1)
    prompts = classes[:, None, :] + 0.05 * torch.randn(4, 3, 6, generator=gen)
    ensembled = prompt_ensemble(prompts)
    expected = F.normalize(F.normalize(prompts, dim=-1).mean(1), dim=-1)
    torch.testing.assert_close(ensembled, expected)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    features = classes[labels] + 0.01 * torch.randn(6, 6, generator=gen)
    assert zero_shot_accuracy(features, labels, prompts, ks=(1, 2)) == {"top1": 1.0, "top2": 1.0}
    wrong = (labels + 1) % 4
    got = zero_shot_accuracy(features, wrong, ensembled, ks=(1, 2, 9))
    assert got["top1"] == 0.0 and set(got) == {"top1", "top2"}
    with pytest.raises(ValueError, match="lie in"):
        zero_shot_accuracy(features, labels + 4, ensembled)


def test_isotropy_of_rows_and_of_tokens(gen):
    x = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    unit = F.normalize(x, dim=1)
    cos = [float(unit[i] @ unit[j]) for i in range(7) for j in range(7) if i != j]
    assert isotropy(x) == pytest.approx(1 - sum(cos) / len(cos), abs=1e-12)
    assert isotropy(torch.ones(5, 3)) == pytest.approx(0.0, abs=1e-12)
    tokens = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    per_sequence = [isotropy(tokens[0, :3]), isotropy(tokens[1])]
    assert isotropy(tokens, mask) == pytest.approx(sum(per_sequence) / 2, abs=1e-12)
    spread = torch.cat([torch.eye(4), -torch.eye(4)]).double()
    assert partition_isotropy(spread) == pytest.approx(1.0, abs=1e-9)
    skewed = spread + torch.tensor([3.0, 0, 0, 0], dtype=torch.float64)
    assert partition_isotropy(skewed) < 0.1


def test_roc_curve_and_per_query_auc(gen):
    scores = torch.tensor([0.9, 0.8, 0.8, 0.3, 0.1, 0.5])
    positive = torch.tensor([True, False, True, False, False, True])
    fpr, tpr, thresholds = roc_curve(scores, positive)
    assert fpr.tolist() == [0.0, 0.0, 1 / 3, 1 / 3, 2 / 3, 1.0]
    assert tpr.tolist() == [0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0]
    assert thresholds[0] == math.inf
    area = float(torch.trapezoid(tpr, fpr))
    assert area == pytest.approx(auroc(scores, positive))
    matrix = torch.randn(4, 6, generator=gen)
    relevant = torch.rand(4, 6, generator=gen) > 0.5
    relevant[0] = True  # no irrelevant candidate: undefined
    relevant[1, :2], relevant[1, 2:] = True, False
    got = per_query_auc(matrix, relevant)
    assert math.isnan(got[0])
    for i in range(1, 4):
        pos = [float(s) for s, r in zip(matrix[i], relevant[i], strict=True) if r]
        neg = [float(s) for s, r in zip(matrix[i], relevant[i], strict=True) if not r]
        wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
        assert float(got[i]) == pytest.approx(wins / (len(pos) * len(neg)))


def test_knn_label_agreement_against_a_trusted_set():
    trusted = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    trusted_labels = torch.tensor([0, 0, 1, 1])
    samples = torch.tensor([[1.0, 0.05], [0.05, 1.0], [0.95, 0.0]])
    labels = torch.tensor([0, 1, 1])  # the last label is wrong
    got = knn_label_agreement(samples, labels, k=2, trusted=(trusted, trusted_labels))
    assert got.tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="k must be"):
        knn_label_agreement(samples, labels, k=5, trusted=(trusted, trusted_labels))
