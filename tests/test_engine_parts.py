"""Pieces of the engine checked on their own: row normalisation, index-aligned targets, the
kernel's log-partition shortcut and gradients of single output terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor.engine import AlignedTargets, LabelTargets
from contrastor.engine.similarity import UnitRows
from tests import reference as R


def test_unit_rows_match_normalize_and_give_short_rows_no_gradient(gen):
    x = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    x[2] = 0.0
    x[4] = 1e-14  # shorter than eps: F.normalize divides by eps there
    g = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    ours = x.clone().requires_grad_(True)
    theirs = x.clone().requires_grad_(True)
    UnitRows.apply(ours).backward(g)
    F.normalize(theirs, dim=-1).backward(g)
    torch.testing.assert_close(UnitRows.apply(x), F.normalize(x, dim=-1))
    short = torch.tensor([False, False, True, False, True, False])
    torch.testing.assert_close(ours.grad[~short], theirs.grad[~short])
    assert (ours.grad[short] == 0).all()  # F.normalize: g / eps, about 1e12
    assert theirs.grad[short].abs().max() > 1e10
    wide = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(UnitRows.apply, (wide,))


def test_aligned_targets_are_label_equality():
    for n, m, offset in ((4, 6, 0), (4, 6, 2), (6, 4, -2)):
        aligned = AlignedTargets(n, m, offset)
        labels = LabelTargets(torch.arange(offset, offset + n), torch.arange(m))
        rows, cols = slice(1, n), slice(0, m - 1)
        torch.testing.assert_close(aligned.block(rows, cols), labels.block(rows, cols))
        torch.testing.assert_close(aligned.transpose().dense(), labels.dense().T)
        assert aligned.diagonals == (offset,) and aligned.transpose().diagonals == (-offset,)
    assert LabelTargets.aligned(3, 5, offset=1).dense()[0].tolist() == [0, 1, 0, 0, 0]


def test_log_partition_with_positive_far_below_the_row_maximum(gen):
    """The shortcut ``lse = l_ii - log_softmax(l)_ii`` stays exact when the positive logit
    lies 100 to 200 below the row maximum (tau = 0.01, anti-aligned pairs)."""
    q = torch.randn(64, 16, generator=gen)
    r = -q + 0.01 * torch.randn(64, 16, generator=gen)
    per = CF.info_nce(q, r, temperature=0.01, symmetric=True, reduction="none")
    eye = [[1.0 if i == j else 0.0 for j in range(64)] for i in range(64)]
    forward = R.info_nce(q.double(), r.double(), 0.01, eye)
    backward = R.info_nce(r.double(), q.double(), 0.01, eye)
    expected = torch.tensor(
        [0.5 * (a + b) for a, b in zip(forward, backward, strict=True)], dtype=torch.float64
    )
    torch.testing.assert_close(per.double(), expected, rtol=1e-5, atol=1e-4)


def test_gradient_of_one_term_only(gen):
    """Backpropagating a single named term (the others unused) gives that term's gradient,
    for the dense and the tiled path."""
    q = torch.randn(12, 8, generator=gen, dtype=torch.float64)
    r = torch.randn(12, 8, generator=gen, dtype=torch.float64)
    labels = torch.arange(12) % 4

    def dense(a, b, term):
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        logits = a @ b.T / 0.2
        pos = (labels[:, None] == labels[None, :]).double()
        positive = -(pos * logits).sum(1) / pos.sum(1)
        return {"positive": positive, "negative": torch.logsumexp(logits, 1)}[term]

    for term in ("positive", "negative"):
        expected = torch.autograd.functional.vjp(
            lambda a, b, t=term: dense(a, b, t), (q, r), torch.linspace(0.5, 1.5, 12).double()
        )[1]
        for execution, tile in (("dense", None), ("tiled", 5)):
            a, b = q.clone().requires_grad_(True), r.clone().requires_grad_(True)
            out = CF.info_nce(
                a,
                b,
                temperature=0.2,
                labels=labels,
                return_output=True,
                execution=execution,
                tile_size=tile,
            )
            (out.terms[term] * torch.linspace(0.5, 1.5, 12).double()).sum().backward()
            torch.testing.assert_close((a.grad, b.grad), expected)


def test_shared_exponential_of_a_symmetric_call_matches_the_log_sum_exps(gen):
    """A fixed float tau bounds cosine logits on the host, so both directions of CLIP share
    one exp(l - 1/tau) per block; a tensor tau (no bound known) takes the per-direction
    log-sum-exps. Values and gradients agree, tiled and dense, and at a tau too small for
    the shift (0.02: bound 50 > 40) the float call takes the per-direction path."""
    from contrastor.engine import blocks
    from contrastor.engine.softmax import kernel_call

    q = torch.randn(70, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    r = torch.randn(70, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    for tau in (0.05, 0.02):
        for execution in ("tiled", "dense"):
            run = {"symmetric": True, "execution": execution, "tile_size": 16}
            fixed = CF.info_nce(q, r, temperature=tau, **run)
            tensor = CF.info_nce(q, r, temperature=torch.tensor(tau, dtype=torch.float64), **run)
            torch.testing.assert_close(fixed, tensor, rtol=1e-12, atol=1e-12)
            grads = torch.autograd.grad(fixed, (q, r)), torch.autograd.grad(tensor, (q, r))
            for a, b in zip(*grads, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    inv_t, targets = torch.tensor(1.0), AlignedTargets(70, 70, 0)
    shifts = [
        kernel_call(q, r, inv_t, targets, "tiled", 16, normalize=True, logit_bound=b)[3].shift
        for b in (20.0, 50.0)
    ]
    assert shifts == [20.0, None]
    layout = kernel_call(q, r, inv_t, targets, "tiled", 16, normalize=True, logit_bound=20.0)[3]
    assert blocks._shift(layout, True) == 20.0 and blocks._shift(layout, False) is None
