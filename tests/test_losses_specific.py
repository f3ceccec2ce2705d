"""Loss-specific behaviour: target kinds, edge cases, modules, learnable parameters."""

from __future__ import annotations

import math

import pytest
import torch

import contrastor.functional as CF
from contrastor import losses as L
from contrastor.engine import ComparatorTargets, MultiLabelTargets, Temperature
from tests import reference as ref

TAU = 0.2


def _randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _close_lists(expected, got):
    for e, g in zip(expected, got, strict=True):
        assert (e is None and g == 0.0) or math.isclose(e, g, rel_tol=1e-10, abs_tol=1e-12)


def test_info_nce_extra_references_are_negatives(gen):
    q, r = _randn(gen, 4, 5), _randn(gen, 9, 5)
    pos = [[1.0 if i == j else 0.0 for j in range(9)] for i in range(4)]
    got = CF.info_nce(q, r, temperature=TAU, reduction="none")
    _close_lists(ref.info_nce(q, r, TAU, pos), got.tolist())
    with pytest.raises(ValueError, match="at least as many references"):
        CF.info_nce(r, q, temperature=TAU)
    with pytest.raises(ValueError, match="symmetric"):
        CF.info_nce(q, r, temperature=TAU, symmetric=True)


def test_info_nce_with_labels_and_queue_labels(gen):
    q, r = _randn(gen, 5, 4), _randn(gen, 8, 4)
    ql, rl = torch.tensor([0, 1, 2, 0, 5]), torch.tensor([0, 0, 1, 3, 2, 2, 4, 4])
    pos = [[float(a == b) for b in rl.tolist()] for a in ql.tolist()]
    out = CF.info_nce(q, r, temperature=TAU, labels=ql, reference_labels=rl, return_output=True)
    _close_lists(ref.info_nce(q, r, TAU, pos), out.per_anchor.tolist())
    assert out.mask.tolist() == [True, True, True, True, False]
    assert math.isclose(float(out.loss), ref.mean_defined(ref.info_nce(q, r, TAU, pos)))


@pytest.mark.parametrize("mode", ["any", "jaccard"])
def test_multi_label_targets(mode, gen):
    q, r = _randn(gen, 5, 4), _randn(gen, 6, 4)
    a = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 1], [0, 0, 1]])
    b = torch.tensor([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 1]])

    def weight(x, y):
        inter = sum(u and v for u, v in zip(x, y, strict=True))
        union = sum(u or v for u, v in zip(x, y, strict=True))
        if mode == "any":
            return float(inter > 0)
        return inter / union if union else 0.0

    pos = [[weight(x, y) for y in b.tolist()] for x in a.tolist()]
    targets = MultiLabelTargets(a, b, mode=mode)
    got = CF.info_nce(q, r, temperature=TAU, targets=targets, reduction="none")
    _close_lists(ref.info_nce(q, r, TAU, pos), got.tolist())
    if mode == "any":
        via_labels = CF.info_nce(q, r, temperature=TAU, labels=a, reference_labels=b)
        assert torch.allclose(via_labels, CF.info_nce(q, r, temperature=TAU, targets=targets))


def test_comparator_and_soft_targets(gen):
    q, r = _randn(gen, 5, 4), _randn(gen, 5, 4)
    years = torch.tensor([2001.0, 2003.0, 2010.0, 2002.0, 2011.0])

    def close_in_time(a, b):
        return (torch.abs(a[:, None] - b[None, :]) <= 1.0).double()

    pos = [[float(abs(a - b) <= 1) for b in years.tolist()] for a in years.tolist()]
    t = ComparatorTargets(years, years, close_in_time)
    got = CF.info_nce(q, r, temperature=TAU, targets=t, reduction="none")
    _close_lists(ref.info_nce(q, r, TAU, pos), got.tolist())
    soft = torch.rand(5, 5, generator=gen, dtype=torch.float64)
    got = CF.info_nce(q, r, temperature=TAU, targets=soft, symmetric=True, reduction="none")
    expected = [
        0.5 * (a + b)
        for a, b in zip(
            ref.info_nce(q, r, TAU, soft.tolist()),
            ref.info_nce(r, q, TAU, soft.T.tolist()),
            strict=True,
        )
    ]
    _close_lists(expected, got.tolist())
    with pytest.raises(ValueError, match="non-negative"):
        CF.info_nce(q, r, targets=-soft)
    with pytest.raises(ValueError, match="comparator"):
        CF.info_nce(q, r, targets=ComparatorTargets(years, years, lambda a, b: a[:, None]))


def test_supcon_multi_hot_and_single_sample_classes(gen):
    z = _randn(gen, 6, 2, 4)
    multi = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]])

    def same(i, j):
        return float(bool((multi[i] * multi[j]).sum() > 0))

    got = CF.supcon(z, multi, temperature=TAU, reduction="none")
    _close_lists([x for row in ref.multiview(z, same, TAU) for x in row], got.reshape(-1).tolist())
    # one view: the samples whose class appears once have no positive and are left out
    single = z[:, 0]
    labels = torch.tensor([0, 0, 1, 2, 2, 3])
    out = CF.supcon(single, labels, temperature=TAU, reduction="none", return_output=True)
    assert out.mask.reshape(-1).tolist() == [True, True, False, True, True, False]
    expected = ref.multiview(single[:, None], lambda i, j: float(labels[i] == labels[j]), TAU)
    _close_lists([row[0] for row in expected], out.per_anchor.reshape(-1).tolist())


def test_no_positive_and_label_errors(gen):
    z = _randn(gen, 4, 5)
    with pytest.raises(ValueError, match="no anchor has a positive"):
        CF.supcon(z, torch.arange(4))
    with pytest.raises(ValueError, match="labels has length 3"):
        CF.supcon(_randn(gen, 4, 2, 5), torch.arange(3))
    with pytest.raises(ValueError, match="labels has length 3"):
        CF.info_nce(z, z, labels=torch.arange(3))
    with pytest.raises(ValueError, match="no positives"):
        CF.supcon(z)
    with pytest.raises(ValueError, match="at least 2 views"):
        CF.nt_xent(z)
    with pytest.raises(ValueError, match="no anchor has a positive"):
        CF.info_nce(z, z, targets=torch.zeros(4, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="no anchor has a positive"):
        CF.siglip(z, z, labels=torch.arange(4), reference_labels=torch.arange(4) + 10)
    with pytest.raises(ValueError, match="exactly two views"):
        CF.dclw(_randn(gen, 4, 3, 5))
    with pytest.raises(ValueError, match="no negatives"):
        CF.dcl(_randn(gen, 1, 2, 5))
    with pytest.raises(ValueError, match="temperature"):
        CF.info_nce(z, z, temperature=0.0)


def test_nt_xent_is_supcon_with_instance_labels(gen):
    z = _randn(gen, 6, 3, 4)
    assert torch.allclose(
        CF.nt_xent(z, temperature=TAU), CF.supcon(z, torch.arange(6), temperature=TAU)
    )
    listed = CF.nt_xent([z[:, 0], z[:, 1], z[:, 2]], temperature=TAU)
    assert torch.allclose(listed, CF.nt_xent(z, temperature=TAU))


def test_terms_add_up_to_per_anchor(gen):
    q, r = _randn(gen, 6, 4), _randn(gen, 6, 4)
    out = CF.info_nce(q, r, temperature=TAU, symmetric=True, return_output=True)
    assert torch.allclose(out.terms["positive"] + out.terms["negative"], out.per_anchor)
    assert torch.allclose(
        out.per_anchor, 0.5 * (out.terms["query_to_reference"] + out.terms["reference_to_query"])
    )
    sig = CF.siglip(q, r, return_output=True)
    assert torch.allclose(sig.terms["positive"] + sig.terms["negative"], sig.per_anchor)


def test_uniformity_matches_reference(gen):
    x = _randn(gen, 7, 4)
    assert math.isclose(float(CF.uniformity(x, t=2.0)), ref.uniformity(x, 2.0), rel_tol=1e-10)
    xr = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: CF.uniformity(a, t=2.0), (xr,))
    with pytest.raises(ValueError, match="two samples"):
        CF.uniformity(x[:1])


def test_modules_equal_functionals(gen):
    q, r = _randn(gen, 6, 4), _randn(gen, 6, 4)
    z, y = torch.stack([q, r], 1), torch.tensor([0, 1, 0, 1, 2, 2])
    pairs = [
        (L.InfoNCE(0.2)(q, r), CF.info_nce(q, r, temperature=0.2)),
        (L.InfoNCE(0.2, symmetric=True)(q, r), CF.info_nce(q, r, temperature=0.2, symmetric=True)),
        (L.NTXent(0.2)(q, r), CF.nt_xent([q, r], temperature=0.2)),
        (L.NTXent(0.2)(z), CF.nt_xent(z, temperature=0.2)),
        (L.SupCon(0.2)(z, y), CF.supcon(z, y, temperature=0.2)),
        (L.DCL(0.2)(q, r), CF.dcl([q, r], temperature=0.2)),
        (L.DCLW(0.2, sigma=0.3)(q, r), CF.dclw([q, r], temperature=0.2, sigma=0.3)),
        (L.SigLIP(0.1, -10.0)(q, r), CF.siglip(q, r, temperature=0.1, bias=-10.0)),
        (L.Alignment()(q, r), CF.alignment(q, r)),
        (L.Uniformity()(q), CF.uniformity(q)),
        (
            L.AlignUniform(weight=0.5)(q, r),
            CF.alignment(q, r) + 0.25 * (CF.uniformity(q) + CF.uniformity(r)),
        ),
    ]
    for module_value, functional_value in pairs:
        assert torch.allclose(module_value.double(), functional_value, rtol=1e-6)
    assert L.InfoNCE(reduction="none")(q, r).shape == (6,)
    assert L.SupCon(reduction="none")(z, y).shape == (6, 2)


def test_learnable_temperature_trains_and_stays_in_range():
    t = Temperature(0.07, learnable=True, min=0.01, max=1.0)
    assert math.isclose(t.value, 0.07, rel_tol=1e-6)
    assert "theta" in dict(t.named_parameters())
    with torch.no_grad():
        t.theta.fill_(1e4)
    assert t.value <= 1.0
    with torch.no_grad():
        t.theta.fill_(-1e4)
    assert t.value >= 0.01 * (1 - 1e-6)
    with pytest.raises(ValueError, match="min < init < max"):
        Temperature(2.0, learnable=True, min=0.01, max=1.0)
    loss_fn = L.CLIPLoss()
    q = torch.randn(8, 4)
    loss_fn(q, q + 0.1 * torch.randn(8, 4)).backward()
    assert loss_fn.temperature.theta.grad is not None and loss_fn.temperature.theta.grad != 0
    state = loss_fn.state_dict()
    assert "temperature.theta" in state
    fresh = L.CLIPLoss(0.5)
    fresh.load_state_dict(state)
    assert math.isclose(fresh.temperature.value, 0.07, rel_tol=1e-6)


def test_siglip_learnable_bias_and_temperature_get_gradients(gen):
    loss_fn = L.SigLIP()
    q, r = torch.randn(8, 4), torch.randn(8, 4)
    loss_fn(q, r).backward()
    assert loss_fn.bias.grad is not None and loss_fn.temperature.theta.grad is not None
    fixed = L.SigLIP(learnable_temperature=False)
    assert not any(p.requires_grad for p in fixed.parameters())
    assert "bias" in fixed.state_dict()


def test_per_anchor_temperature(gen):
    q, r = _randn(gen, 5, 4), _randn(gen, 5, 4)
    taus = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5], dtype=torch.float64)
    got = CF.info_nce(q, r, temperature=taus, reduction="none")
    eye = [[float(i == j) for j in range(5)] for i in range(5)]
    for i in range(5):
        assert math.isclose(
            float(got[i]), ref.info_nce(q, r, float(taus[i]), eye)[i], rel_tol=1e-10
        )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_uniformity_invariances_and_half_precision(dtype, gen):
    x = _randn(gen, 9, 4)
    perm = torch.randperm(9, generator=gen)
    scale = 0.1 + 10 * torch.rand(9, 1, generator=gen, dtype=torch.float64)
    assert torch.allclose(CF.uniformity(x), CF.uniformity(x[perm]), rtol=1e-12)
    assert torch.allclose(CF.uniformity(x), CF.uniformity(x * scale), rtol=1e-10)
    half = _randn(gen, 64, 16).to(dtype).requires_grad_(True)
    loss = CF.uniformity(half, t=2.0)
    loss.backward()
    assert torch.isfinite(loss) and bool(torch.isfinite(half.grad).all())
    with pytest.raises(ValueError, match="NaN or inf"):
        CF.uniformity(x * float("inf"))
    with pytest.raises(ValueError, match="empty"):
        CF.uniformity(x[:0])
