"""Cross-modal and ranking losses: contrastive gap, CWCL defaults, Symile with missing
modalities, list-wise losses over graded relevance, and the modality-gap diagnostic."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor.eval import mean_rank_variance, modality_gap
from tests import reference as ref


def _randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def test_contrastive_gap_adds_alignment_and_uniformity(gen):
    u, v = _randn(gen, 6, 4), _randn(gen, 6, 4)
    loss, terms = CF.contrastive_gap(
        u, v, temperature=0.3, uniformity_weight=0.5, alignment_weight=2.0, return_terms=True
    )
    eye = [[float(i == j) for j in range(6)] for i in range(6)]
    clip = 0.5 * (
        ref.mean_defined(ref.info_nce(u, v, 0.3, eye))
        + ref.mean_defined(ref.info_nce(v, u, 0.3, eye))
    )
    align = ref.mean_defined(ref.alignment(u, v, 2.0))
    unif = ref.uniformity(torch.cat([u, v]), 2.0)
    assert math.isclose(float(loss), clip + 2.0 * align + 0.5 * unif, rel_tol=1e-10)
    assert math.isclose(float(terms["uniformity"]), unif, rel_tol=1e-10)
    split = CF.contrastive_gap(u, v, temperature=0.3, alignment_weight=0.0, joint_uniformity=False)
    each = 0.5 * (ref.uniformity(u, 2.0) + ref.uniformity(v, 2.0))
    assert math.isclose(float(split), clip + each, rel_tol=1e-10)
    with pytest.raises(ValueError, match="per-anchor"):
        CF.contrastive_gap(u, v, reduction="none")


def test_cwcl_defaults_to_the_frozen_references_and_reduces_to_clip_for_orthogonal_guides(gen):
    q, r = _randn(gen, 5, 4), _randn(gen, 5, 4)
    default = CF.cwcl(q, r, temperature=0.2)
    assert torch.allclose(default, CF.cwcl(q, r, guide=r.detach(), temperature=0.2))
    # guides at cosine -1 to every other sample give weight 0 off the diagonal: plain CLIP
    simplex = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    q2, r2 = q[:2], r[:2]
    got = CF.cwcl(q2, r2, guide=simplex, temperature=0.2)
    assert torch.allclose(got, CF.info_nce(q2, r2, temperature=0.2, symmetric=True))
    with pytest.raises(ValueError, match="same number of rows"):
        CF.cwcl(q, r, guide=simplex)


def test_symile_with_missing_modalities(gen):
    xs = [_randn(gen, 5, 3) for _ in range(3)]
    present = torch.ones(5, 3, dtype=torch.bool)
    present[1, 2] = present[3, 0] = False
    fill = _randn(gen, 3, 3)
    out = CF.symile(xs, temperature=0.3, present=present, missing=fill, return_output=True)
    filled = [
        torch.where(
            present[:, m : m + 1], F.normalize(x, dim=1), F.normalize(fill[m], dim=0).expand_as(x)
        )
        for m, x in enumerate(xs)
    ]
    expected = ref.symile(filled, 0.3)
    for i in range(5):
        for m in range(3):
            if present[i, m]:
                assert math.isclose(float(out.per_anchor[i, m]), expected[i][m], rel_tol=1e-10)
            else:
                assert not out.mask[i, m] and float(out.per_anchor[i, m]) == 0.0
    with pytest.raises(ValueError, match="at least three"):
        CF.symile(xs[:2])
    with pytest.raises(ValueError, match="missing"):
        CF.symile(xs, present=present)


@pytest.mark.parametrize("order", [1, 2])
def test_listwise_wasserstein_matches_optimal_transport(order, gen):
    q, docs = _randn(gen, 4, 3), _randn(gen, 4, 5, 3)
    rel = torch.tensor([[3, 0, 1, 2, 0], [1, 1, 0, 0, 0], [0, 2, 2, 0, 1], [0, 0, 0, 0, 4]])
    got = CF.listwise_wasserstein(
        q, docs, rel.double(), temperature=0.4, order=order, reduction="none"
    )
    expected = ref.listwise(q, docs, rel, 0.4, order)
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-9, atol=1e-12)
    x = q.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a: CF.listwise_wasserstein(a, docs, rel.double(), temperature=0.4, order=order),
        (x,),
        eps=1e-6,
        atol=1e-6,
    )


def test_listwise_loss_is_zero_for_a_perfect_ranking(gen):
    q = F.normalize(_randn(gen, 1, 3), dim=1)
    docs = torch.stack([q[0], -q[0], -q[0]])[None]
    rel = torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64)
    assert float(CF.listwise_wasserstein(q, docs, rel, temperature=0.01)) < 1e-12
    assert float(CF.listwise_wasserstein(q, docs.flip(1), rel, temperature=0.01)) > 1.0


def test_listnet_matches_reference_and_checks_inputs(gen):
    q, docs = _randn(gen, 3, 4), _randn(gen, 3, 6, 4)
    rel = torch.rand(3, 6, generator=gen, dtype=torch.float64)
    got = CF.listnet(q, docs, rel, temperature=0.5, reduction="none")
    assert torch.allclose(got, torch.tensor(ref.listnet(q, docs, rel, 0.5), dtype=torch.float64))
    with pytest.raises(ValueError, match="relevant"):
        CF.listnet(q, docs, torch.zeros(3, 6))
    with pytest.raises(ValueError, match="relevance must have shape"):
        CF.listwise_wasserstein(q, docs, rel[:, :4])
    with pytest.raises(ValueError, match="non-negative"):
        CF.listwise_wasserstein(q, docs, -rel)


def test_decoupled_softmax_with_one_positive_is_info_nce(gen):
    q, r = _randn(gen, 5, 4), _randn(gen, 7, 4)
    assert torch.allclose(
        CF.decoupled_softmax(q, r, temperature=0.2), CF.info_nce(q, r, temperature=0.2)
    )
    soft = torch.rand(5, 7, generator=gen, dtype=torch.float64) * (
        torch.rand(5, 7, generator=gen) > 0.5
    )
    soft[:, 0] = 0.5  # everyone has a positive
    soft[:, 1] = 0.0  # and a negative
    got = CF.decoupled_softmax(q, r, temperature=0.2, targets=soft, reduction="none")
    expected = ref.decoupled_softmax(q, r, 0.2, soft.tolist())
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-10)


def test_mann_whitney_is_small_when_positives_outrank_negatives(gen):
    q = _randn(gen, 4, 3)
    good = CF.mann_whitney(q, q + 0.01 * _randn(gen, 4, 3), temperature=0.05)
    bad = CF.mann_whitney(q, -q, temperature=0.05)
    assert float(good) < 0.05 < 1.0 < float(bad)


def test_modality_gap_diagnostics(gen):
    x = _randn(gen, 50, 8)
    shifted = F.normalize(F.normalize(x, dim=1) + 3.0 * torch.eye(8, dtype=torch.float64)[0], dim=1)
    same = modality_gap(x, x)
    apart = modality_gap(x, shifted)
    assert same["centroid_distance"] < 1e-12 and math.isclose(same["matched_cosine"], 1.0)
    assert apart["centroid_distance"] > 0.5
    assert apart["uniformity_joint"] > apart["uniformity_x"]
    a, b = F.normalize(x, dim=1), shifted
    sims = a @ b.T
    off = (sims.sum() - sims.diag().sum()) / (50 * 49)
    assert math.isclose(apart["unmatched_cosine"], float(off), rel_tol=1e-10)
    with pytest.raises(ValueError, match="same number of rows"):
        modality_gap(x, x[:3])


@pytest.mark.parametrize("mode", ["out", "in"])
def test_one_to_k_matches_the_authors_form_dense_and_tiled(mode, gen):
    n, k, d, tau = 5, 3, 4, 0.4
    items, texts = _randn(gen, n, d), _randn(gen, n, k, d)
    x, t = F.normalize(items, dim=1), F.normalize(texts, dim=2).reshape(n * k, d)
    expected = []
    for i in range(n):
        logits = [float(x[i] @ t[c]) / tau for c in range(n * k)]
        lse = ref._lse(logits)
        own = logits[i * k : (i + 1) * k]
        inside = ref._lse(own) - math.log(k)
        forward = lse - (sum(own) / k if mode == "out" else inside)
        backward = 0.0
        for c in range(i * k, (i + 1) * k):
            scores = [float(t[c] @ x[j]) / tau for j in range(n)]
            backward += ref._lse(scores) - scores[i]
        expected.append(0.5 * (forward + backward / k / k))
    expected = torch.tensor(expected, dtype=torch.float64)
    for execution in ("dense", "tiled"):
        got = CF.one_to_k(
            items,
            texts,
            temperature=tau,
            positive_mode=mode,
            reduction="none",
            execution=execution,
            tile_size=4,
        )
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    leaves = (items.clone().requires_grad_(), texts.clone().requires_grad_())
    assert torch.autograd.gradcheck(
        lambda a, b: CF.one_to_k(a, b, positive_mode=mode, execution="tiled", tile_size=4),
        leaves,
    )
    with pytest.raises(ValueError, match="texts must have shape"):
        CF.one_to_k(items, texts[:, :, :3])


def test_mean_rank_variance(gen):
    n, k, d = 6, 3, 5
    items, texts = _randn(gen, n, d), _randn(gen, n, k, d)
    x, t = F.normalize(items, dim=1), F.normalize(texts, dim=2)
    variances = []
    for i in range(n):
        ranks = []
        for c in range(k):
            scores = [float(t[i, c] @ x[j]) for j in range(n)]
            ranks.append(sum(s >= scores[i] for s in scores))
        mean = sum(ranks) / k
        variances.append(sum((r - mean) ** 2 for r in ranks) / k)
    assert mean_rank_variance(items, texts, chunk_size=4) == pytest.approx(sum(variances) / n)
    same = items[:, None, :].expand(n, k, d)
    assert mean_rank_variance(items, same) == 0.0
    with pytest.raises(ValueError, match="K >= 2"):
        mean_rank_variance(items, texts[:, :1])


def _clip_reference(a, b, tau):
    eye = [[float(i == j) for j in range(len(a))] for i in range(len(a))]
    forward, backward = ref.info_nce(a, b, tau, eye), ref.info_nce(b, a, tau, eye)
    return [0.5 * (x + y) for x, y in zip(forward, backward, strict=True)]


def test_pairwise_clip_and_anchor_alignment_average_their_terms(gen):
    a, b, c = (_randn(gen, 5, 4) for _ in range(3))
    got = CF.pairwise_clip(
        [a, b, c], temperature=0.3, reduction="none", execution="tiled", tile_size=2
    )
    pairs = [_clip_reference(x, y, 0.3) for x, y in ((a, b), (a, c), (b, c))]
    expected = torch.tensor([sum(p[i] for p in pairs) / 3 for i in range(5)], dtype=torch.float64)
    torch.testing.assert_close(got, expected)
    anchored = CF.anchor_alignment(a, [b, c], temperature=0.3, reduction="none")
    terms = [_clip_reference(a, v, 0.3) for v in (b, c)]
    expected = torch.tensor(
        [(terms[0][i] + terms[1][i]) / 2 for i in range(5)], dtype=torch.float64
    )
    torch.testing.assert_close(anchored, expected)
    anchor = a.clone().requires_grad_()
    CF.anchor_alignment(anchor, [b.requires_grad_()], detach_anchor=True).backward()
    assert anchor.grad is None and b.grad is not None
    with pytest.raises(ValueError, match="at least 2"):
        CF.pairwise_clip([a])


def test_mixup_contrastive_soft_targets(gen):
    n, tau = 6, 0.4
    mixed, other = _randn(gen, n, 5), _randn(gen, n, 5)
    perm, lam = torch.tensor([1, 2, 0, 4, 5, 3]), torch.linspace(0.5, 1.0, n, dtype=torch.float64)
    targets = [[0.0] * n for _ in range(n)]
    for i in range(n):
        targets[i][i] += float(lam[i])
        targets[i][int(perm[i])] += 1 - float(lam[i])
    forward = ref.info_nce(mixed, other, tau, targets)
    transposed = [[targets[i][j] for i in range(n)] for j in range(n)]
    backward = ref.info_nce(other, mixed, tau, transposed)
    expected = torch.tensor([0.5 * (x + y) for x, y in zip(forward, backward, strict=True)])
    for execution in ("dense", "tiled"):
        got = CF.mixup_contrastive(
            mixed,
            other,
            perm,
            lam,
            temperature=tau,
            reduction="none",
            execution=execution,
            tile_size=4,
        )
        torch.testing.assert_close(got, expected.double())
    leaves = (mixed.clone().requires_grad_(), other.clone().requires_grad_())
    assert torch.autograd.gradcheck(lambda x, y: CF.mixup_contrastive(x, y, perm, 0.7), leaves)
    with pytest.raises(ValueError, match="permutation"):
        CF.mixup_contrastive(mixed, other, torch.zeros(n, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="lam"):
        CF.mixup_contrastive(mixed, other, perm, 1.5)


def test_orthogonal_shared_unique(gen):
    shared, unique = [_randn(gen, 5, 4) for _ in range(2)], [_randn(gen, 5, 4) for _ in range(2)]
    loss, terms = CF.orthogonal_shared_unique(
        shared, unique, temperature=0.3, orthogonality_weight=2.0, return_terms=True
    )
    clip = sum(_clip_reference(*shared, 0.3)) / 5
    ortho = sum(
        float(((F.normalize(s, dim=1).T @ F.normalize(u, dim=1)) / 5).square().sum())
        for s, u in zip(shared, unique, strict=True)
    )
    assert float(terms["clip"]) == pytest.approx(clip, abs=1e-10)
    assert float(terms["orthogonality"]) == pytest.approx(ortho, abs=1e-10)
    assert float(loss) == pytest.approx(clip + 2.0 * ortho, abs=1e-10)
    v, w = _randn(gen, 1, 4), _randn(gen, 1, 4)
    s, u = torch.cat([v, v]), torch.cat([w, -w])  # S^T U = v w^T - v w^T = 0
    _, terms = CF.orthogonal_shared_unique([s, s], [u, u], return_terms=True)
    assert float(terms["orthogonality"]) == pytest.approx(0.0, abs=1e-20)
