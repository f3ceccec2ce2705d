"""Losses over structured targets: whitening-based contrast, subclass clustering for SBCL,
SupReMix and ConR for regression."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor import losses as L
from tests import reference as ref


def _randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _zca(x, eps):
    """ZCA whitening via the SVD of the centred data (independent of the eigh path)."""
    c = x - x.mean(0)
    _, s, vt = torch.linalg.svd(c, full_matrices=False)
    return c @ vt.T @ torch.diag((s**2 / x.shape[0] + eps).rsqrt()) @ vt


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_shuffled_group_whitening(groups, gen):
    x = _randn(gen, 40, 8) @ _randn(gen, 8, 8)
    g = torch.Generator().manual_seed(3)
    out = CF.shuffled_group_whitening(x, groups=groups, eps=1e-10, generator=g)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    for block in order.reshape(groups, -1):
        part = out[:, block]
        cov = (part - part.mean(0)).T @ (part - part.mean(0)) / 40
        assert torch.allclose(cov, torch.eye(len(block), dtype=cov.dtype), atol=1e-4)
        assert torch.allclose(part, _zca(x[:, block], 1e-10), atol=1e-8)
    if groups == 1:  # full ZCA does not depend on the channel order
        plain = CF.shuffled_group_whitening(x, eps=1e-10, shuffle=False)
        assert torch.allclose(out, plain, atol=1e-8)
    y = x[:10, :4].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: CF.shuffled_group_whitening(t, groups=2, shuffle=False), (y,), atol=1e-5
    )
    with pytest.raises(ValueError, match="divide"):
        CF.shuffled_group_whitening(x, groups=3)


def test_whitened_contrastive_is_nt_xent_on_whitened_views(gen):
    z = _randn(gen, 16, 3, 4)
    got = CF.whitened_contrastive(z, temperature=0.2, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    white = [CF.shuffled_group_whitening(v, generator=g) for v in z.unbind(1)]
    assert torch.allclose(got, CF.nt_xent(white, temperature=0.2), rtol=1e-10)


def test_subclass_labels_are_balanced_and_nested_in_classes(gen):
    x = torch.cat([_randn(gen, 30, 4) + 4 * torch.eye(4, dtype=torch.float64)[k] for k in range(3)])
    labels = torch.tensor([0] * 60 + [1] * 30)
    sub = CF.subclass_labels(x, labels, size=20, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(sub)
    # class 0: round(60 / 20) = 3 subclasses of 20; class 1: round(30 / 20) = 2 of 15
    assert sorted(counts.tolist()) == [15, 15, 20, 20, 20]
    for s in torch.unique(sub):
        assert len(torch.unique(labels[sub == s])) == 1
    # the clusters follow the structure: the first 30 samples of class 0 share no subclass
    # with the last 30
    first, second = set(sub[:30].tolist()), set(sub[30:60].tolist())
    assert len(first & second) <= 1


def test_supremix_matches_reference_with_its_mixtures(gen):
    z = _randn(gen, 6, 2, 4)
    y = torch.tensor([1.0, 2.0, 2.0, 3.5, 5.0, 1.0], dtype=torch.float64)
    stacked = F.normalize(z.transpose(0, 1).reshape(12, 4), dim=-1)
    mix = CF.regression_mixtures(
        stacked, y.repeat(2), negatives=3, positives=2, generator=torch.Generator().manual_seed(1)
    )
    got = CF.supremix(z, y, temperature=0.3, mixtures=mix, reduction="none")
    expected = ref.supremix(z, y, 0.3, mix.embeddings, mix.targets)
    for e_row, g_row in zip(expected, got.tolist(), strict=True):
        for e, g in zip(e_row, g_row, strict=True):
            assert (e is None and g == 0.0) or math.isclose(e, g, rel_tol=1e-10)
    # positive mixtures sit at the anchor's target: only anchors strictly inside the range
    inside = (y.repeat(2) > y.min()) & (y.repeat(2) < y.max())
    assert torch.equal(mix.positive.any(1), inside)
    x = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: CF.supremix(t, y, temperature=0.3, mixtures=mix), (x,), atol=1e-7
    )


def test_conr_matches_reference(gen):
    f = _randn(gen, 8, 4)
    y = torch.tensor([0.0, 0.5, 3.0, 3.2, 6.0, 0.2, 9.0, 2.9], dtype=torch.float64)
    p = torch.tensor([0.5, 2.5, 3.0, 1.0, 2.0, 8.0, 8.5, 2.0], dtype=torch.float64)
    got = CF.conr(f, y, p, threshold=1.0, pushing=0.1, temperature=0.3, reduction="none")
    expected = ref.conr(f, y, p, 1.0, 0.1, 0.3)
    for e, g in zip(expected, got.tolist(), strict=True):
        assert (e is None and g == 0.0) or math.isclose(e, g, rel_tol=1e-10)
    assert any(e is None for e in expected) and any(e is not None for e in expected)
    x = f.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: CF.conr(t, y, p, threshold=1.0, pushing=0.1, temperature=0.3), (x,), atol=1e-7
    )
    # predictions that already separate every label range leave no negative: nothing to push
    assert float(CF.conr(f, y, y * 100.0, threshold=1.0)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        CF.conr(f, y, p[:, None].expand(8, 2))


def test_amcl_matches_reference(gen):
    a, b = _randn(gen, 5, 2, 3), _randn(gen, 5, 2, 3)
    phi = torch.nn.Linear(3, 3).double()
    w, c = phi.weight.detach().tolist(), phi.bias.detach().tolist()

    def phi_list(z):
        return [
            sum(wi * zi for wi, zi in zip(row, z, strict=True)) + bi
            for row, bi in zip(w, c, strict=True)
        ]

    got = CF.amcl(a, b, phi, beta=0.05, temperature_range=(0.05, 2.0), topk=4, reduction="none")
    expected = ref.amcl(a, b, phi_list, 0.05, (0.05, 2.0), 4)
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-10)
    x = a.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: CF.amcl(t, b, phi, temperature_range=(0.05, 2.0), topk=3), (x,), atol=1e-6
    )
    # the temperature network trains with the loss
    loss_fn = L.AMCL(dim=3, heads=2, temperature_range=(0.05, 2.0)).double()
    loss_fn(a.reshape(5, 6), b.reshape(5, 6)).backward()
    assert all(p.grad is not None for p in loss_fn.phi.parameters())
    with pytest.raises(ValueError, match="same shape"):
        CF.amcl(a, b[:4], phi)


def test_semantic_anchors_margin_contrast_and_ema(gen):
    z = torch.randn(9, 6, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0])
    loss_fn = L.SemanticAnchors(classes=4, dim=6, margin=0.3, temperature=0.2).double()
    anchors = loss_fn.anchors.clone()
    assert torch.allclose(anchors @ anchors.T, torch.eye(4, dtype=torch.float64), atol=1e-6)
    got = CF.semantic_anchor_contrast(z, y, anchors, margin=0.3, temperature=0.2, reduction="none")
    unit, directions = F.normalize(z, dim=1), F.normalize(anchors, dim=1)
    for i in range(9):
        cos = [float(unit[i] @ directions[c]) for c in range(4)]
        logits = [(c - 0.3 * (k == int(y[i]))) / 0.2 for k, c in enumerate(cos)]
        expected = math.log(sum(math.exp(v) for v in logits)) - logits[int(y[i])]
        assert abs(float(got[i]) - expected) < 1e-10
    assert torch.allclose(loss_fn(z, y), got.mean())
    loss_fn.update(z[:4], y[:4])
    moved = F.normalize(0.9 * anchors + 0.1 * unit[:4], dim=1)
    assert torch.allclose(loss_fn.anchors, moved)
    with pytest.raises(ValueError, match="no positive"):
        loss_fn(z, torch.full((9,), 4))
    learnable = L.SemanticAnchors(classes=12, dim=4, learnable=True)
    assert isinstance(learnable.anchors, torch.nn.Parameter)
    assert torch.allclose(learnable.anchors.norm(dim=1), torch.ones(12))
