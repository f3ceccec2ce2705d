"""Robust strategies: RINCE limits, soft re-targeting, false-negative cancellation, clean
weights and early-learning regularization."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor.noise import CoDivide, EarlyLearningRegularizer, clean_weights, false_negative_mask
from tests import reference as ref


def _randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def test_rince_tends_to_info_nce_as_q_vanishes(gen):
    q, r = _randn(gen, 6, 4), _randn(gen, 6, 4)
    small = CF.rince(q, r, temperature=0.3, q=1e-6, lam=1.0)
    assert math.isclose(float(small), float(CF.info_nce(q, r, temperature=0.3)), rel_tol=1e-5)
    with pytest.raises(ValueError, match="q must be"):
        CF.rince(q, r, q=1.5)


def test_rince_ties_q_to_the_temperature_unless_given(gen):
    q, r = _randn(gen, 6, 4), _randn(gen, 6, 4)
    for tau in (0.05, 0.3):
        tied = CF.rince(q, r, temperature=tau, reduction="none")
        given = CF.rince(q, r, temperature=tau, q=tau, reduction="none")
        torch.testing.assert_close(tied, given, rtol=0, atol=0)
    assert torch.equal(CF.rince(q, r, temperature=3.0), CF.rince(q, r, temperature=3.0, q=1.0))
    tau = torch.full((6,), 0.2, dtype=torch.float64, requires_grad=True)  # one per anchor
    per_anchor = CF.rince(q, r, temperature=tau, reduction="none")
    torch.testing.assert_close(per_anchor, CF.rince(q, r, temperature=0.2, reduction="none"))
    (grad,) = torch.autograd.grad(per_anchor.sum(), tau)
    # q follows the temperature's value, not its gradient: the gradient is that of q = 0.2
    step = 1e-7
    shifted = CF.rince(q, r, temperature=0.2 + step, q=0.2, reduction="none")
    lowered = CF.rince(q, r, temperature=0.2 - step, q=0.2, reduction="none")
    torch.testing.assert_close(grad, (shifted - lowered) / (2 * step), rtol=1e-5, atol=1e-7)


def test_soft_retargeting_keeps_clean_pairs_and_follows_the_model_on_suspects(gen):
    q, r = _randn(gen, 5, 4), _randn(gen, 5, 4)
    clean = CF.soft_retargeted_info_nce(q, r, torch.ones(5), temperature=0.2)
    assert torch.allclose(clean, CF.info_nce(q, r, temperature=0.2, symmetric=True))
    got = CF.soft_retargeted_info_nce(
        q, r, torch.zeros(5), temperature=0.2, symmetric=False, reduction="none"
    )
    own = torch.softmax(F.normalize(q, dim=1) @ F.normalize(r, dim=1).T / 0.2, dim=1)
    expected = ref.info_nce(q, r, 0.2, own.tolist())
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-10)


def test_false_negative_cancellation(gen):
    q, r = _randn(gen, 6, 4), _randn(gen, 8, 4)
    suspects = false_negative_mask(q, r, top_k=2)
    assert int(suspects.sum()) == 12 and not bool(suspects[torch.arange(6), torch.arange(6)].any())
    got = CF.false_negative_cancellation(q, r, suspects, temperature=0.3, reduction="none")
    expected = ref.eliminate(q, r, 0.3, suspects.tolist())
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-10)
    tiled = CF.false_negative_cancellation(
        q, r, suspects, temperature=0.3, execution="tiled", tile_size=3, reduction="none"
    )
    assert torch.allclose(tiled, got, rtol=1e-10)
    none = torch.zeros(6, 8, dtype=torch.bool)
    plain = CF.info_nce(q, r, temperature=0.3)
    assert torch.allclose(CF.false_negative_cancellation(q, r, none, temperature=0.3), plain)
    attract = CF.false_negative_cancellation(q, r, suspects, mode="attract", temperature=0.3)
    targets = torch.eye(6, 8, dtype=torch.float64) + suspects.double()
    assert torch.allclose(attract, CF.info_nce(q, r, temperature=0.3, targets=targets))
    x = q.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: CF.false_negative_cancellation(t, r, suspects, temperature=0.3), (x,)
    )
    with pytest.raises(ValueError, match="threshold"):
        false_negative_mask(q, r)
    guided = false_negative_mask(q, r, threshold=0.5, guide_query=q, guide_reference=r)
    cos = F.normalize(q, dim=1) @ F.normalize(r, dim=1).T
    cos[torch.arange(6), torch.arange(6)] = -1
    assert torch.equal(guided, cos >= 0.5)


def test_clean_weights_warm_up_weight_and_drop():
    p = torch.tensor([0.9, 0.2, 0.6, 0.05])
    assert torch.equal(clean_weights(p, epoch=0, warmup_epochs=2), torch.ones(4))
    assert torch.equal(clean_weights(p, epoch=2, warmup_epochs=2), p)
    assert clean_weights(p, epoch=3, mode="drop").tolist() == [1.0, 0.0, 1.0, 0.0]
    assert clean_weights(p * 0.1, epoch=3, mode="drop").tolist() == [1.0, 0.0, 0.0, 0.0]


def test_early_learning_regularizer_tracks_predictions(gen):
    elr = EarlyLearningRegularizer(10, 3, lam=2.0, beta=0.5)
    index = torch.tensor([1, 4])
    logits = _randn(gen, 2, 3).float().requires_grad_(True)
    penalty = elr(logits, index)
    p = F.softmax(logits.detach(), 1).clamp(1e-4, 1 - 1e-4)
    target = 0.5 * p / p.sum(1, keepdim=True)  # from zero targets
    assert torch.allclose(elr.state.target[index], target)
    assert math.isclose(
        penalty.item(), 2.0 * float(torch.log(1 - (target * p).sum(1)).mean()), rel_tol=1e-5
    )
    penalty.backward()
    assert logits.grad is not None and bool(torch.isfinite(logits.grad).all())


def test_rince_module_is_symmetric(gen):
    from contrastor import losses as L

    q, r = _randn(gen, 6, 4), _randn(gen, 6, 4)
    module = L.RINCE(0.3, q=0.4, lam=0.1)
    tau = module.temperature()
    one = CF.rince(q, r, temperature=tau, q=0.4, lam=0.1)
    other = CF.rince(r, q, temperature=tau, q=0.4, lam=0.1)
    assert torch.allclose(module(q, r), 0.5 * (one + other))
    assert torch.allclose(L.RINCE(0.3, q=0.4, lam=0.1, symmetric=False)(q, r), one)


def test_co_divide_trains_each_network_on_its_peers_division():
    co = CoDivide(8, warmup=1)
    index = torch.arange(8)
    low_first = torch.tensor([0.1, 0.12, 0.11, 0.09, 3.0, 3.1, 2.9, 3.05])
    co.observe(0, index, low_first.flip(0))  # network 0 finds the last four easy
    co.observe(1, index, low_first)  # network 1 finds the first four easy
    co.refresh(0)
    assert torch.equal(co.weights(0, index), torch.ones(8))  # warm-up: everything counts
    co.refresh(1)
    first, last = torch.tensor([1.0] * 4 + [0.0] * 4), torch.tensor([0.0] * 4 + [1.0] * 4)
    assert torch.equal(co.weights(0, index), first)  # network 1's division
    assert torch.equal(co.weights(1, index), last)  # network 0's division
    assert torch.equal(co.clean(0) > 0.5, first.bool())
    assert torch.equal(co.weights(1, torch.tensor([7, 0])), torch.tensor([1.0, 0.0]))
    state = co.state_dict()
    again = CoDivide(8, warmup=1)
    again.load_state_dict(state)
    assert torch.equal(again.weights(0, index), first)
    with pytest.raises(ValueError, match="mode must be"):
        CoDivide(8, warmup=1, mode="keep")
