"""Evaluation metrics against brute-force references written with plain loops."""

from __future__ import annotations

import math

import pytest
import torch

from contrastor.eval import (
    alignment_score,
    effective_rank,
    first_hit_spread,
    knn_accuracy,
    knn_predict,
    linear_probe,
    retrieval_metrics,
    ridge_map,
    similarity_gap,
    uniformity_score,
)


def _brute_retrieval(q, g, ql, gl, ks, exclude_self):
    qn = torch.nn.functional.normalize(q.double(), dim=1)
    gn = torch.nn.functional.normalize(g.double(), dim=1)
    sums, counted = {}, 0
    for i in range(len(q)):
        items = [j for j in range(len(g)) if not (exclude_self and j == i)]
        scores = {j: float(qn[i] @ gn[j]) for j in items}
        order = sorted(items, key=lambda j: (-scores[j], j))
        rel = [int(gl[j] == ql[i]) for j in order]
        R = sum(rel)
        if R == 0:
            continue
        counted += 1
        first = rel.index(1) + 1
        for k in ks:
            sums[f"recall@{k}"] = sums.get(f"recall@{k}", 0) + float(any(rel[:k]))
            sums[f"mrr@{k}"] = sums.get(f"mrr@{k}", 0) + (1 / first if first <= k else 0)
            dcg = sum(r / math.log2(p + 2) for p, r in enumerate(rel[:k]))
            idcg = sum(1 / math.log2(p + 2) for p in range(min(k, R)))
            sums[f"ndcg@{k}"] = sums.get(f"ndcg@{k}", 0) + dcg / idcg
        sums["precision@1"] = sums.get("precision@1", 0) + rel[0]
        ap = sum(rel[p] * sum(rel[: p + 1]) / (p + 1) for p in range(R)) / R
        sums["map@R"] = sums.get("map@R", 0) + ap
    return {k: v / counted for k, v in sums.items()}, counted


@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("chunks", [(None, 8192), (3, 5), (1, 1)])
def test_retrieval_matches_brute_force(exclude_self, chunks, gen):
    n = 23
    q = torch.randn(n, 6, generator=gen)
    g = q if exclude_self else torch.randn(31, 6, generator=gen)
    ql = torch.randint(0, 4, (n,), generator=gen)
    gl = ql if exclude_self else torch.randint(0, 5, (31,), generator=gen)
    got = retrieval_metrics(
        q,
        g,
        ql,
        gl,
        ks=(1, 3, 10),
        exclude_self=exclude_self,
        query_chunk=chunks[0],
        gallery_chunk=chunks[1],
    )
    expected, counted = _brute_retrieval(q, g, ql, gl, (1, 3, 10), exclude_self)
    assert got["queries"] == counted
    for name, value in expected.items():
        assert math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-12), name


def test_retrieval_pairs_by_index_and_queries_without_relevant(gen):
    x = torch.randn(10, 8, generator=gen)
    perfect = retrieval_metrics(x, x.clone(), ks=(1,))
    assert perfect["recall@1"] == 1.0 and perfect["map@R"] == 1.0
    m = retrieval_metrics(x, x, torch.arange(10), torch.arange(10) + 5, ks=(1,))
    assert m["queries"] == 5 and m["queries_without_relevant"] == 5
    with pytest.raises(ValueError, match="both"):
        retrieval_metrics(x, x, torch.arange(10))
    with pytest.raises(ValueError, match="no query has a relevant"):
        retrieval_metrics(x, x, torch.zeros(10).long(), torch.ones(10).long())
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(x * float("nan"), x)


def test_knn_matches_brute_force(gen):
    train = torch.randn(40, 5, generator=gen)
    labels = torch.randint(0, 3, (40,), generator=gen)
    test = torch.randn(15, 5, generator=gen)
    tn = torch.nn.functional.normalize(train.double(), dim=1)
    sn = torch.nn.functional.normalize(test.double(), dim=1)
    expected = []
    for i in range(15):
        s = [float(sn[i] @ tn[j]) for j in range(40)]
        top = sorted(range(40), key=lambda j: -s[j])[:7]
        votes = [0.0, 0.0, 0.0]
        for j in top:
            votes[int(labels[j])] += math.exp(s[j] / 0.1)
        expected.append(max(range(3), key=lambda c: votes[c]))
    got = knn_predict(train, labels, test, k=7, temperature=0.1)
    assert got.tolist() == expected
    acc = knn_accuracy(train, labels, test, torch.tensor(expected), k=7, temperature=0.1)
    assert acc == 1.0
    loo = knn_predict(train, labels, train, k=1, exclude_self=True)
    nearest = [
        max((j for j in range(40) if j != i), key=lambda j: float(tn[i] @ tn[j])) for i in range(40)
    ]
    assert loo.tolist() == labels[nearest].tolist()


def test_linear_probe_separates_linear_classes(gen):
    centers = torch.randn(4, 10, generator=gen) * 3
    y = torch.randint(0, 4, (400,), generator=gen)
    x = centers[y] + torch.randn(400, 10, generator=gen)
    result = linear_probe(x[:300], y[:300], x[300:], y[300:])
    assert result["accuracy"] > 0.95
    noise = linear_probe(torch.randn(300, 10, generator=gen), y[:300], x[300:], y[300:])
    assert noise["accuracy"] < 0.5


def test_geometry_diagnostics(gen):
    x = torch.randn(50, 8, generator=gen, dtype=torch.float64)
    assert alignment_score(x, x) < 1e-12
    assert math.isclose(alignment_score(x, -x), 4.0, rel_tol=1e-9)
    xn = torch.nn.functional.normalize(x, dim=1)
    brute = math.log(
        sum(
            math.exp(-2 * float((xn[i] - xn[j]).pow(2).sum()))
            for i in range(50)
            for j in range(50)
            if i != j
        )
        / (50 * 49)
    )
    assert math.isclose(uniformity_score(x, chunk=7), brute, rel_tol=1e-9)
    assert math.isclose(effective_rank(torch.ones(20, 5)), 1.0, rel_tol=1e-6)
    assert math.isclose(effective_rank(torch.eye(6)), 6.0, rel_tol=1e-6)
    labels = torch.randint(0, 3, (50,), generator=gen)
    gap = similarity_gap(x, labels)
    sims = xn @ xn.T
    pos = [
        float(sims[i, j]) for i in range(50) for j in range(50) if i != j and labels[i] == labels[j]
    ]
    neg = [float(sims[i, j]) for i in range(50) for j in range(50) if labels[i] != labels[j]]
    assert math.isclose(gap["positive_similarity"], sum(pos) / len(pos), rel_tol=1e-9)
    assert math.isclose(gap["negative_similarity"], sum(neg) / len(neg), rel_tol=1e-9)
    y = torch.randn(50, 8, generator=gen, dtype=torch.float64)
    yn = torch.nn.functional.normalize(y, dim=1)
    paired = similarity_gap(x, y=y)
    cross = xn @ yn.T
    assert math.isclose(paired["positive_similarity"], float(cross.diag().mean()), rel_tol=1e-9)
    off = (cross.sum() - cross.diag().sum()) / (50 * 49)
    assert math.isclose(paired["negative_similarity"], float(off), rel_tol=1e-9)


def _ridge_by_solving(x, y, alpha):
    """Weights and intercept of ridge with an unpenalised intercept, from the normal
    equations of the augmented design."""
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    penalty = torch.eye(design.shape[1], dtype=x.dtype) * alpha
    penalty[-1, -1] = 0.0
    solution = torch.linalg.solve(design.T @ design + penalty, design.T @ y)
    return solution[:-1], solution[-1]


def test_ridge_map_leave_one_out_matches_refitting_without_each_pair(gen):
    x = torch.randn(14, 5, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(5, 3, generator=gen, dtype=torch.float64) + 0.3
    y = y + 0.5 * torch.randn(14, 3, generator=gen, dtype=torch.float64)
    alphas = [0.01, 1.0, 30.0, 1000.0]
    errors = []
    for alpha in alphas:
        residuals = []
        for i in range(len(x)):
            keep = torch.arange(len(x)) != i
            w, b = _ridge_by_solving(x[keep], y[keep], alpha)
            residuals.append(y[i] - (x[i] @ w + b))
        errors.append(float(torch.stack(residuals).square().mean()))
    fitted = ridge_map(x, y, alphas)
    best = min(range(len(alphas)), key=errors.__getitem__)
    assert fitted.alpha == alphas[best]
    assert math.isclose(fitted.loo_error, errors[best], rel_tol=1e-9)
    w, b = _ridge_by_solving(x, y, fitted.alpha)
    assert torch.allclose(fitted.weight, w, atol=1e-10)
    assert torch.allclose(fitted(x.float()).double(), x @ w + b, atol=1e-5)
    # images are flattened; the default grid scales with the inputs
    images = x.reshape(14, 1, 5, 1)
    assert ridge_map(images, y).weight.shape == (5, 3)
    assert ridge_map(x * 100, y).alpha == pytest.approx(ridge_map(x, y).alpha * 1e4)
    with pytest.raises(ValueError, match="at least 3"):
        ridge_map(x[:2], y[:2])
    with pytest.raises(ValueError, match="alphas must be positive"):
        ridge_map(x, y, [0.0])
    with pytest.raises(ValueError):
        ridge_map(x, y[:5])
    with pytest.raises(ValueError):
        ridge_map(x.clone().index_fill_(0, torch.tensor([3]), float("nan")), y)


def test_first_hit_spread_of_degenerate_and_distinct_rankings(gen):
    gallery = torch.randn(8, 4, generator=gen)
    own = first_hit_spread(gallery + 0.01 * torch.randn(8, 4, generator=gen), gallery)
    assert own == {"hub share": 1 / 8, "tied at top": 0.0}
    # every query closest to one item: one hub
    same = first_hit_spread(
        gallery[2].repeat(6, 1) + 1e-3 * torch.randn(6, 4, generator=gen), gallery
    )
    assert same["hub share"] == 1.0
    # a gallery with a duplicate: queries pointing at it are decided by the tie-break
    doubled = torch.cat([gallery, gallery[:1]])
    queries = torch.stack([gallery[0], gallery[0] * 2, gallery[5]])
    spread = first_hit_spread(queries, doubled)
    assert spread["tied at top"] == pytest.approx(2 / 3)
    assert spread["hub share"] == pytest.approx(2 / 3)
    # agrees with a plain loop over dot-product scores
    q = torch.randn(9, 4, generator=gen)
    scores = q @ gallery.T
    firsts = scores.argmax(1)
    hub = max((firsts == j).sum().item() for j in range(8)) / 9
    assert first_hit_spread(q, gallery, similarity="dot")["hub share"] == pytest.approx(hub)
    with pytest.raises(ValueError, match="at least 2"):
        first_hit_spread(q, gallery[:1])
