"""k-means, Sinkhorn-Knopp, PCL concentrations, ProtoNCE, SwAV and prototype transport."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor import losses as L


def _blobs(gen, per=10, d=4, classes=3):
    centres = torch.eye(d, dtype=torch.float64)[:classes] * 5
    x = torch.cat(
        [c + 0.3 * torch.randn(per, d, generator=gen, dtype=torch.float64) for c in centres]
    )
    return x, torch.arange(classes).repeat_interleave(per)


def _same_partition(a, b):
    return all((a[i] == a[j]) == (b[i] == b[j]) for i in range(len(a)) for j in range(len(a)))


def test_kmeans_recovers_separated_clusters(gen):
    x, y = _blobs(gen)
    for spherical in (True, False):
        centroids, assign = CF.kmeans(
            x, 3, spherical=spherical, generator=torch.Generator().manual_seed(0)
        )
        assert centroids.shape == (3, 4) and _same_partition(assign.tolist(), y.tolist())
    with pytest.raises(ValueError, match="k must be"):
        CF.kmeans(x, 31)


def test_concentration_follows_pcl(gen):
    x, y = _blobs(gen)
    centroids = F.normalize(
        torch.stack([F.normalize(x[y == c], dim=1).mean(0) for c in range(3)]), dim=1
    )
    phi = CF.cluster_concentration(x, centroids, y, alpha=10.0, temperature=0.2)
    z = F.normalize(x, dim=1)
    raw = []
    for c in range(3):
        members = z[y == c]
        raw.append(
            float((members - centroids[c]).norm(dim=1).sum())
            / (len(members) * math.log(len(members) + 10))
        )
    raw = torch.tensor(raw, dtype=torch.float64)
    raw = raw.clamp(torch.quantile(raw, 0.1), torch.quantile(raw, 0.9))
    torch.testing.assert_close(phi, 0.2 * raw / raw.mean())


def test_proto_nce_with_a_temperature_per_prototype(gen):
    q = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    mu = F.normalize(torch.randn(3, 4, generator=gen, dtype=torch.float64), dim=1)
    assign = torch.tensor([0, 2, 1, 1, 0])
    phi = torch.tensor([0.1, 0.3, 0.2], dtype=torch.float64)
    mu2, assign2, phi2 = (
        mu[:2],
        torch.tensor([1, 0, 0, 1, 1]),
        torch.tensor([0.5, 0.25], dtype=torch.float64),
    )
    got = CF.proto_nce(q, [(mu, assign, phi), (mu2, assign2, phi2)], reduction="none")
    z = F.normalize(q, dim=1)

    def term(i, centres, a, t):
        logits = [float(z[i] @ centres[j]) / float(t[j]) for j in range(len(centres))]
        top = max(logits)
        return top + math.log(sum(math.exp(v - top) for v in logits)) - logits[int(a[i])]

    for i in range(5):
        expected = 0.5 * (term(i, mu, assign, phi) + term(i, mu2, assign2, phi2))
        assert float(got[i]) == pytest.approx(expected, abs=1e-10)
    leaf = q.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: CF.proto_nce(x, [(mu, assign, phi)]), (leaf,))


def test_sinkhorn_equipartitions(gen):
    scores = torch.randn(12, 4, generator=gen, dtype=torch.float64)
    q = CF.sinkhorn_knopp(scores, epsilon=0.5, iterations=200)
    torch.testing.assert_close(q.sum(1), torch.ones(12, dtype=torch.float64))
    torch.testing.assert_close(q.sum(0), torch.full((4,), 3.0, dtype=torch.float64))


def test_swav_matches_the_swapped_prediction(gen):
    z1, z2 = (torch.randn(8, 4, generator=gen, dtype=torch.float64) for _ in range(2))
    c = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    got = CF.swav([z1, z2], c, temperature=0.2, reduction="none")
    unit_c = F.normalize(c, dim=1)
    s1, s2 = F.normalize(z1, dim=1) @ unit_c.T, F.normalize(z2, dim=1) @ unit_c.T
    q1, q2 = CF.sinkhorn_knopp(s1), CF.sinkhorn_knopp(s2)
    expected = 0.5 * (
        -(q2 * (s1 / 0.2).log_softmax(1)).sum(1) - (q1 * (s2 / 0.2).log_softmax(1)).sum(1)
    )
    torch.testing.assert_close(got, expected)
    # the codes carry no gradient: compare with the explicit form, codes held fixed
    leaves = [t.clone().requires_grad_() for t in (z1, z2, c)]
    CF.swav(leaves[:2], leaves[2], temperature=0.2).backward()
    fixed = [t.clone().requires_grad_() for t in (z1, z2, c)]
    unit_c = F.normalize(fixed[2], dim=1)
    t1, t2 = (F.normalize(v, dim=1) @ unit_c.T / 0.2 for v in fixed[:2])
    (0.5 * (-(q2 * t1.log_softmax(1)).sum(1) - (q1 * t2.log_softmax(1)).sum(1))).mean().backward()
    for a, b in zip(leaves, fixed, strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    module = L.SwAV(prototypes=5, dim=4)
    assert torch.isfinite(module(z1.float(), z2.float()))


def test_transport_moves_prototypes_to_the_query_clusters(gen):
    queries, y = _blobs(gen, per=15)
    truth = torch.stack([queries[y == c].mean(0) for c in range(3)])
    biased = truth + 1.5 * torch.randn(3, 4, generator=gen, dtype=torch.float64)
    moved = CF.transport_prototypes(biased, queries, steps=3)
    assert (moved - truth).norm(dim=1).mean() < 0.5 * (biased - truth).norm(dim=1).mean()


def test_prototypical_contrast_module(gen):
    x, _ = _blobs(gen)
    loss_fn = L.PrototypicalContrast(temperature=0.2)
    q, k, index = x[:6].float(), (x[:6] + 0.1).float(), torch.arange(6)
    plain = loss_fn(q, k, index=index)
    torch.testing.assert_close(plain, CF.info_nce(q, k, temperature=0.2))
    loss_fn.recluster(x.float(), clusters=(3, 5), generator=torch.Generator().manual_seed(1))
    assert len(loss_fn.clusterings) == 2
    assert float(loss_fn(q, k, index=index)) > float(plain)
