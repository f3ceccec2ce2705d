"""Triplet mining and the triplet loss against plain loops over all triplets."""

from __future__ import annotations

import math

import pytest
import torch

import contrastor.functional as CF
from contrastor import losses as L


def _problem(gen, n=8, d=3):
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])[:n]
    return x, y


def _dist(x, i, j):
    return math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(x[i], x[j], strict=True)))


def _valid(y):
    n = len(y)
    return [
        (a, p, q)
        for a in range(n)
        for p in range(n)
        for q in range(n)
        if a != p and y[a] == y[p] and y[q] != y[a]
    ]


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard", "all"])
def test_triplet_loss_matches_loops(mining, gen):
    x, y = _problem(gen)
    margin, yl = 0.7, y.tolist()
    per_anchor = {}
    for a in range(len(yl)):
        mine = [(p, q) for (b, p, q) in _valid(yl) if b == a]
        if not mine:
            continue
        if mining == "batch_hard":
            p = max((p for p, _ in mine), key=lambda p: _dist(x, a, p))
            q = min((q for _, q in mine), key=lambda q: _dist(x, a, q))
            chosen = [(p, q)]
        elif mining == "all":
            chosen = mine
        else:
            chosen = []
            for p in sorted({p for p, _ in mine}):
                dap = _dist(x, a, p)
                window = [q for pp, q in mine if pp == p and dap < _dist(x, a, q) < dap + margin]
                if window:
                    chosen.append((p, min(window, key=lambda q: _dist(x, a, q))))
        if chosen:
            values = [max(0.0, _dist(x, a, p) - _dist(x, a, q) + margin) for p, q in chosen]
            per_anchor[a] = sum(values) / len(values)
    got = CF.triplet_margin(x, y, margin=margin, mining=mining, reduction="none")
    for a in range(len(yl)):
        assert float(got[a]) == pytest.approx(per_anchor.get(a, 0.0), abs=1e-10)
    mean = CF.triplet_margin(x, y, margin=margin, mining=mining)
    assert float(mean) == pytest.approx(sum(per_anchor.values()) / len(per_anchor), abs=1e-10)
    leaf = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z: CF.triplet_margin(z, y, margin=margin, mining="all"), (leaf,)
    )


def test_mined_negatives_restrict_a_softmax_loss(gen):
    x, y = _problem(gen)
    mined = CF.mine_triplets(x, y, strategy="batch_hard")
    weights = mined.negative_weights(len(y))
    assert weights.sum(1).tolist() == [1.0] * len(y)
    loss = CF.info_nce(x, x, labels=y, negative_weights=weights, reduction="none")
    unit = torch.nn.functional.normalize(x, dim=1)
    for a in range(len(y)):
        positives = [p for p in range(len(y)) if y[p] == y[a]]
        logits = {j: float(unit[a] @ unit[j]) / 0.07 for j in range(len(y))}
        kept = [*positives, int(mined.negative[a])]
        lse = math.log(sum(math.exp(logits[j]) for j in kept))
        expected = lse - sum(logits[p] for p in positives) / len(positives)
        assert float(loss[a]) == pytest.approx(expected, abs=1e-9)


def test_triplet_module_views_and_errors(gen):
    x, y = _problem(gen)
    views = torch.stack([x, x + 0.01], 1)
    per = L.TripletMargin(reduction="none")(views, y)
    assert per.shape == (8, 2)
    soft = L.TripletMargin(soft=True, distance="cosine")(views, y)
    assert torch.isfinite(soft)
    with pytest.raises(ValueError, match="no anchor"):
        CF.triplet_margin(x, torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match="strategy"):
        CF.mine_triplets(x, y, strategy="hardest")


def test_multi_similarity_matches_loops(gen):
    x, y = _problem(gen)
    alpha, beta, base, margin = 2.0, 10.0, 0.3, 0.2
    unit = torch.nn.functional.normalize(x, dim=1)
    s = (unit @ unit.T).tolist()
    yl = y.tolist()
    expected = []
    for i in range(len(yl)):
        pos = [s[i][k] for k in range(len(yl)) if k != i and yl[k] == yl[i]]
        neg = [s[i][k] for k in range(len(yl)) if yl[k] != yl[i]]
        kept_neg = [v for v in neg if v + margin > min(pos)]
        kept_pos = [v for v in pos if v - margin < max(neg)]
        if not kept_neg or not kept_pos:
            expected.append(0.0)
            continue
        term_p = math.log(1 + sum(math.exp(-alpha * (v - base)) for v in kept_pos)) / alpha
        term_n = math.log(1 + sum(math.exp(beta * (v - base)) for v in kept_neg)) / beta
        expected.append(term_p + term_n)
    got = CF.multi_similarity(
        x, y, alpha=alpha, beta=beta, base=base, margin=margin, reduction="none"
    )
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    leaf = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z: CF.multi_similarity(z, y, alpha=alpha, beta=beta, base=base, margin=margin),
        (leaf,),
    )
    assert L.MultiSimilarity(reduction="none")(torch.stack([x, x], 1), y).shape == (8, 2)
