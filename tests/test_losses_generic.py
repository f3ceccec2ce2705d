"""Generic checks run on every loss: reference agreement, gradcheck, invariances, half
precision, weighted reduction and bad-input errors."""

from __future__ import annotations

import math

import pytest
import torch

from tests.cases import CASES, Case
from tests.reference import mean_defined

IDS = [c.name for c in CASES]
TAU = 0.3


def _per_anchor(case: Case, x: dict, **kw) -> torch.Tensor:
    return case.call(x, TAU, reduction="none", **kw).reshape(-1)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_float64_reference(case, gen):
    x = case.build(6, 5, torch.float64, gen)
    expected = case.reference(x, TAU)
    got = _per_anchor(case, x)
    assert len(expected) == got.numel()
    for e, g in zip(expected, got.tolist(), strict=True):
        assert (e is None and g == 0.0) or math.isclose(e, g, rel_tol=1e-10, abs_tol=1e-12)
    scalar = case.call(x, TAU)
    assert math.isclose(float(scalar), mean_defined(expected), rel_tol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck(case, gen):
    x = case.build(4, 3, torch.float64, gen)
    keys = case.embeddings
    for k in keys:
        x[k] = x[k].detach().requires_grad_(True)

    def fn(*tensors):
        y = dict(x)
        y.update(zip(keys, tensors, strict=True))
        return case.call(y, TAU)

    assert torch.autograd.gradcheck(fn, tuple(x[k] for k in keys), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_batch_permutation_invariance(case, gen):
    x = case.build(7, 4, torch.float64, gen)
    perm = torch.randperm(7, generator=gen)
    y = {k: v[perm] for k, v in x.items()}
    assert torch.allclose(case.call(x, TAU), case.call(y, TAU), rtol=1e-12, atol=1e-12)
    a = case.call(x, TAU, reduction="none")
    b = case.call(y, TAU, reduction="none")
    assert torch.allclose(a[perm], b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cosine_scale_invariance(case, gen):
    if not case.scale_invariant:
        pytest.skip("the loss reads the embeddings' lengths")
    x = case.build(6, 4, torch.float64, gen)
    y = dict(x)
    for k in case.embeddings:
        shape = (x[k].shape[0],) + (1,) * (x[k].ndim - 1)
        y[k] = x[k] * (0.1 + 10 * torch.rand(shape, generator=gen, dtype=torch.float64))
    assert torch.allclose(case.call(x, TAU), case.call(y, TAU), rtol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_half_precision_is_finite_at_low_temperature(case, dtype, gen):
    x = case.build(32, 16, dtype, gen)
    # near-duplicate embeddings make the logits extreme at tau = 0.01
    for k in case.embeddings:
        x[k] = x[k].detach().requires_grad_(True)
    tau = case.low_temperature
    loss = case.call(x, tau)
    loss.backward()
    assert torch.isfinite(loss)
    for k in case.embeddings:
        assert x[k].grad is not None and bool(torch.isfinite(x[k].grad).all())
    x64 = {k: v.detach().double() if v.is_floating_point() else v for k, v in x.items()}
    assert math.isclose(loss.item(), case.call(x64, tau).item(), rel_tol=2e-2, abs_tol=2e-2)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_weighted_mean(case, gen):
    x = case.build(6, 4, torch.float64, gen)
    w = torch.rand(6, generator=gen, dtype=torch.float64)
    per = case.call(x, TAU, reduction="none")
    expected_w = w.reshape(-1, *([1] * (per.ndim - 1))).expand_as(per)
    got = case.call(x, TAU, weights=w)
    assert torch.allclose(got, (per * expected_w).sum() / expected_w.sum(), rtol=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        case.call(x, TAU, weights=-w)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_inputs_raise_clear_errors(case, gen):
    x = case.build(5, 4, torch.float64, gen)
    for k in case.embeddings:
        for bad, message in [(float("nan"), "NaN or inf"), (float("inf"), "NaN or inf")]:
            y = dict(x)
            y[k] = x[k].clone()
            y[k].view(-1)[3] = bad
            with pytest.raises(ValueError, match=message):
                case.call(y, TAU)
        y = dict(x)
        y[k] = x[k][:0]
        with pytest.raises(ValueError, match="empty"):
            case.call(y, TAU)
    y = dict(x)
    k = case.embeddings[-1]
    y[k] = [x[k][:, 0], x[k][:, 1, :3]] if case.views else x[k][..., :3]
    with pytest.raises(ValueError, match=r"shape|size|dimension"):
        case.call(y, TAU)
    with pytest.raises(ValueError, match="reduction"):
        case.call(x, TAU, reduction="avg")
