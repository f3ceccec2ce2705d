"""Every loss module declared on the base class (its pure function + its defaults) computes
what an explicit call of that function with the same settings computes, and the base
constructor resolves each class's own defaults."""

from __future__ import annotations

import pytest
import torch

import contrastor.functional as CF
from contrastor import losses as L
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import specs

N, D = 12, 8


def _x(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _seeded() -> torch.Generator:
    return torch.Generator().manual_seed(3)


def _cases(g):
    """(id, module value, functional value): each module called as a user would, each
    functional spelled out with the settings the module was built with."""
    q, r, guide = _x(g, N, D), _x(g, N, D), _x(g, N, D)
    z = _x(g, N, 2, D)
    labels = torch.arange(N) % 4
    multi = torch.nn.functional.one_hot(labels, 4)
    multi[::3, 0] = 1  # some queries with two labels
    docs, grades = _x(g, N, 5, D), torch.rand(N, 5, generator=g, dtype=torch.float64)
    paths = torch.stack([torch.arange(N) % 2, torch.arange(N) % 4], 1)
    y = torch.rand(N, generator=g, dtype=torch.float64)
    negatives = _x(g, N, 3, D)
    w = torch.linspace(0.5, 1.5, N, dtype=torch.float64)
    return [
        (
            "info_nce",
            L.InfoNCE(0.2, decoupled=True)(q, r, weights=w),
            CF.info_nce(q, r, temperature=0.2, decoupled=True, weights=w),
        ),
        (
            "info_nce anchor negatives",
            L.InfoNCE()(q, r, anchor_negatives=negatives),
            CF.info_nce(q, r, temperature=0.07, anchor_negatives=negatives),
        ),
        (
            "clip",
            L.CLIPLoss(learnable_temperature=False, tile_size=5, execution="tiled")(q, r),
            CF.info_nce(q, r, temperature=0.07, symmetric=True),
        ),
        (
            "siglip",
            L.SigLIP(0.2, bias=-3.0)(q, r, labels=labels),
            CF.siglip(q, r, temperature=0.2, bias=-3.0, labels=labels),
        ),
        (
            "supcon",
            L.SupCon(0.3, reduction="sum")(z, labels),
            CF.supcon(z, labels, temperature=0.3, reduction="sum"),
        ),
        (
            "nt_xent",
            L.NTXent(0.3)(z[:, 0], z[:, 1]),
            CF.nt_xent([z[:, 0], z[:, 1]], temperature=0.3),
        ),
        ("dclw", L.DCLW(0.3, sigma=0.7)(z), CF.dclw(z, temperature=0.3, sigma=0.7)),
        (
            "rince",
            L.RINCE(0.2, q=0.4)(q, r, weights=w),
            0.5
            * (
                CF.rince(q, r, temperature=0.2, q=0.4, weights=w)
                + CF.rince(r, q, temperature=0.2, q=0.4, weights=w)
            ),
        ),
        (
            "cwcl",
            L.CWCL(0.2, symmetric=False)(q, r, guide=guide),
            CF.cwcl(q, r, guide=guide, temperature=0.2, symmetric=False),
        ),
        (
            "contrastive_gap",
            L.ContrastiveGap(0.2, alignment_weight=0.5)(q, r),
            CF.contrastive_gap(q, r, temperature=0.2, alignment_weight=0.5),
        ),
        (
            "decoupled_softmax",
            L.DecoupledSoftmax(0.2)(q, r, labels=multi),
            CF.decoupled_softmax(q, r, temperature=0.2, labels=multi),
        ),
        (
            "mann_whitney",
            L.MannWhitney(0.2)(q, r, labels=labels),
            CF.mann_whitney(q, r, temperature=0.2, labels=labels),
        ),
        (
            "listwise_wasserstein",
            L.ListwiseWasserstein(0.2, order=2)(q, docs, grades),
            CF.listwise_wasserstein(q, docs, grades, temperature=0.2, order=2),
        ),
        ("listnet", L.ListNet(0.2)(q, docs, grades), CF.listnet(q, docs, grades, temperature=0.2)),
        (
            "margin_mse",
            L.MarginMSE(0.2)(q, docs, grades),
            CF.margin_mse(q, docs, grades, temperature=0.2),
        ),
        (
            "distill_kl",
            L.DistillKL(0.2, teacher_temperature=2.0)(q, docs, grades),
            CF.distill_kl(q, docs, grades, temperature=0.2, teacher_temperature=2.0),
        ),
        (
            "cacr",
            L.CACR(repulsion_temperature=2.0, attraction_weight=0.5)(z[:, 0], z[:, 1]),
            CF.cacr([z[:, 0], z[:, 1]], repulsion_temperature=2.0, attraction_weight=0.5),
        ),
        (
            "hierarchical_contrastive",
            L.HierarchicalContrastive(alpha=0.3)(docs, docs.flip(0)),
            CF.hierarchical_contrastive(docs, docs.flip(0), alpha=0.3),
        ),
        (
            "hierarchical_supcon",
            L.HierarchicalSupCon(0.2)(z, paths),
            CF.hierarchical_supcon(z, paths, temperature=0.2),
        ),
        (
            "supremix",
            L.SupReMix(0.2, negatives=2, positives=2)(z, y, generator=_seeded()),
            CF.supremix(z, y, temperature=0.2, negatives=2, positives=2, generator=_seeded()),
        ),
        (
            "alignment",
            L.Alignment(alpha=1.5, reduction="none")(q, r),
            CF.alignment(q, r, alpha=1.5, reduction="none"),
        ),
        ("uniformity", L.Uniformity(t=3.0)(q), CF.uniformity(q, t=3.0)),
        (
            "align_uniform",
            L.AlignUniform(weight=0.5, t=1.0)(q, r),
            CF.alignment(q, r) + 0.25 * (CF.uniformity(q, t=1.0) + CF.uniformity(r, t=1.0)),
        ),
        (
            "barlow_twins",
            L.BarlowTwins(off_diagonal_weight=0.01)(q, r),
            CF.barlow_twins(q, r, off_diagonal_weight=0.01),
        ),
        (
            "vicreg",
            L.VICReg(variance_weight=5.0)(q, r),
            CF.vicreg(q, r, invariance_weight=25.0, variance_weight=5.0, covariance_weight=1.0),
        ),
        (
            "predictive_cosine",
            L.PredictiveCosine()(q, r, guide, z[:, 0]),
            0.5 * (CF.predictive_cosine(q, z[:, 0]) + CF.predictive_cosine(r, guide)),
        ),
        (
            "z_loss",
            L.ZLoss(a=2.0, b=0.5, reduction="sum")(q, labels),
            CF.z_loss(q, labels, a=2.0, b=0.5, reduction="sum"),
        ),
        (
            "conr",
            L.ConR(0.2, threshold=0.3)(q, y, y.flip(0), weights=w),
            CF.conr(q, y, y.flip(0), threshold=0.3, temperature=0.2, weights=w),
        ),
        _amcl(q, r),
    ]


def _amcl(q, r):
    module = L.AMCL(dim=4, heads=2, topk=3, temperature_range=(0.05, 1.0)).double()
    value = module(q, r)
    heads = (q.reshape(N, 2, 4), r.reshape(N, 2, 4))
    want = CF.amcl(*heads, module.phi, topk=3, temperature_range=(0.05, 1.0))
    return "amcl", value, want


def test_modules_compute_their_functional():
    g = torch.Generator().manual_seed(0)
    for name, module_value, function_value in _cases(g):
        torch.testing.assert_close(module_value, function_value, msg=name)


def test_learnable_temperature_trains_through_the_module():
    """The list-wise modules used to pass tau as a number (no gradient to a learnable tau)."""
    g = torch.Generator().manual_seed(1)
    q, docs, grades = _x(g, N, D), _x(g, N, 5, D), torch.rand(N, 5, generator=g)
    for cls in (L.ListNet, L.ListwiseWasserstein):
        module = cls(0.2, learnable_temperature=True).double()
        module(q, docs, grades.double()).backward()
        grad = next(module.parameters()).grad
        assert grad is not None and grad.abs() > 0, cls.__name__


def test_fixed_temperature_is_exact_in_float64():
    """A fixed tau reaches the function as the number it was given (a float32 buffer made
    float64 callers 1e-8 off); a state_dict's tau is taken over when loaded."""
    g = torch.Generator().manual_seed(2)
    q, r = _x(g, N, D), _x(g, N, D)
    got = L.InfoNCE(0.07, reduction="none")(q, r)
    want = CF.info_nce(q, r, temperature=0.07, reduction="none")
    assert torch.equal(got, want)
    other = L.InfoNCE(0.3)
    other.load_state_dict(L.InfoNCE(0.07).state_dict())
    assert other.temperature.argument() == pytest.approx(0.07, rel=1e-7)


def test_class_settings_are_the_constructor_defaults():
    assert L.InfoNCE().temperature.value == pytest.approx(0.07)
    assert not L.InfoNCE().temperature.learnable
    clip = L.CLIPLoss()
    assert clip.temperature.learnable and clip.symmetric
    assert L.CLIPLoss(learnable_temperature=False).temperature.learnable is False
    assert L.SupCon().temperature.value == pytest.approx(0.1)
    siglip = L.SigLIP()
    assert isinstance(siglip.bias, torch.nn.Parameter) and siglip.temperature.learnable
    fixed = L.SigLIP(learnable_temperature=False)
    assert "bias" in dict(fixed.named_buffers()) and not list(fixed.parameters())
    with pytest.raises(TypeError, match="unexpected options"):
        L.SupCon(symmetric=True)


def test_declared_modules_name_the_registered_function():
    """A registered module in the declaration form calls the function its entry names."""
    for spec in specs():
        module = spec.module
        if issubclass(module, DeclaredLoss) and "function" in vars(module):
            assert module.function is spec.function or spec.function is None, spec.name
