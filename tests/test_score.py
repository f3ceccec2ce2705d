"""A user similarity (``score``) on the engine: equal to the built-in cosine when it is the
cosine, dense == tiled with gradients for its parameters, and the class-pair gates."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor import losses as L
from contrastor.engine import AngularMargin


def _cosine(q, r, rows, cols):
    return F.normalize(q, dim=1) @ F.normalize(r, dim=1).T


def _grads(fn, *tensors):
    leaves = [t.clone().requires_grad_() for t in tensors]
    out = fn(*leaves)
    out.backward()
    return out.detach(), [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("symmetric", [False, True])
def test_a_cosine_score_equals_the_built_in_similarity(symmetric, gen):
    q = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    r = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    tau = torch.tensor(0.3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    options = {"labels": labels, "symmetric": symmetric, "margin": 0.1}
    expected, g_expected = _grads(
        lambda a, b, t: CF.info_nce(a, b, temperature=t, **options), q, r, tau
    )
    for execution in ("dense", "tiled"):
        got, g_got = _grads(
            lambda a, b, t, e=execution: CF.info_nce(
                a, b, temperature=t, score=_cosine, execution=e, tile_size=3, **options
            ),
            q,
            r,
            tau,
        )
        torch.testing.assert_close(got, expected)
        for x, y in zip(g_got, g_expected, strict=True):
            torch.testing.assert_close(x, y)


def test_class_pair_gates_match_a_direct_computation_and_train(gen):
    n, d = 6, 5
    q = torch.randn(n, d, generator=gen, dtype=torch.float64)
    r = torch.randn(n, d, generator=gen, dtype=torch.float64)
    qa, rb = torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([1, 1, 0, 2, 2, 0])
    loss_fn = L.GatedPairContrast(classes=3, dim=d, temperature=0.5, reduction="none").double()
    with torch.no_grad():
        loss_fn.gates.weight.copy_(torch.randn(6, d, generator=gen, dtype=torch.float64))
    got = loss_fn(q, r, query_classes=qa, reference_classes=rb)
    expected = []
    for i in range(n):
        g = loss_fn.gates.gates(qa[i : i + 1], rb[i : i + 1])[0].detach()
        logits = [float(F.cosine_similarity(g * q[i], g * r[j], dim=0)) / 0.5 for j in range(n)]
        top = max(logits)
        expected.append(top + math.log(sum(math.exp(v - top) for v in logits)) - logits[i])
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    assert loss_fn.gates.pair_index(torch.tensor([2]), torch.tensor([1])) == 4

    gates = loss_fn.gates
    grads = {}
    for execution in ("dense", "tiled"):
        gates.zero_grad()
        score = gates.bind(qa, rb)
        loss = CF.info_nce(q, r, score=score, temperature=0.5, execution=execution, tile_size=4)
        loss.backward()
        grads[execution] = gates.weight.grad.clone()
    assert grads["dense"].abs().sum() > 0
    torch.testing.assert_close(grads["dense"], grads["tiled"])

    class Gated(torch.nn.Module):  # the gates' weight as the input of gradcheck
        def __init__(self, w):
            super().__init__()
            self.w = w

        def parameters(self, recurse=True):
            yield self.w

        def forward(self, a, b, rows, cols):
            g = torch.sigmoid(self.w)
            return F.normalize(g * a, dim=1) @ (g * b).T / (g.square() @ b.square().T).sqrt()

    def loss(x, w):
        return CF.info_nce(x, r, score=Gated(w), temperature=0.5, execution="tiled", tile_size=4)

    leaves = (q.clone().requires_grad_(), torch.randn(d, generator=gen, dtype=torch.float64))
    leaves[1].requires_grad_()
    assert torch.autograd.gradcheck(loss, leaves)


def test_score_errors(gen):
    q = torch.randn(4, 3, generator=gen)
    with pytest.raises(ValueError, match=r"\(4, 4\) tensor"):
        CF.info_nce(q, q, score=lambda a, b, rows, cols: a @ b[:2].T)
    with pytest.raises(ValueError, match="dot product"):
        CF.info_nce(q, q, score=_cosine, anchor_negatives=torch.randn(4, 2, 3))


def test_angular_margin_is_arcface_on_positives(gen):
    z = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    anchors = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    y, classes = torch.tensor([0, 1, 2, 0, 1, 2]), torch.arange(3)
    score = AngularMargin(y, classes, margin=0.3)
    cos = F.normalize(z, dim=1) @ F.normalize(anchors, dim=1).T
    got = score(z, anchors, slice(0, 6), slice(0, 3))
    theta = torch.acos(cos)
    expected = torch.where(y[:, None] == classes[None, :], torch.cos(theta + 0.3), cos)
    torch.testing.assert_close(got, expected)
    loss = CF.info_nce(
        z,
        anchors,
        labels=y,
        reference_labels=classes,
        score=score,
        temperature=0.1,
        reduction="none",
    )
    logits = expected / 0.1
    torch.testing.assert_close(loss, torch.logsumexp(logits, 1) - logits[torch.arange(6), y])
    leaf = z.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: CF.info_nce(x, anchors, labels=y, reference_labels=classes, score=score), (leaf,)
    )
