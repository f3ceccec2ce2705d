"""The softmax objective's adjustments (negative weights, margins, top-k negatives, the
"in" positive mode, label smoothing): an independent float64 reference, dense == tiled,
gradcheck (temperature included), both directions, low precision and bad settings."""

from __future__ import annotations

import math

import pytest
import torch

import contrastor.functional as CF
from contrastor.engine import ClusterWeights, LabelTargets, SoftTargets, precision
from contrastor.engine.adjust import Adjust
from contrastor.engine.softmax import softmax_objective, symmetric_softmax_objective
from tests import reference as R

N, M, D = 7, 9, 5

SETTINGS = {
    "weights": {"weights": True},
    "margin": {"margin": 0.3},
    "pair_margins": {"margin": "pairs"},
    "top_k": {"top_k": 3},
    "in": {"inside": True},
    "smoothing": {"smoothing": 0.2},
    "weights_margin_top_k": {"weights": True, "margin": 0.2, "top_k": 4},
    "in_top_k_decoupled": {"inside": True, "top_k": 2, "decoupled": True},
    "smoothing_weights": {"smoothing": 0.1, "weights": True},
}


def _problem(gen, aligned=False):
    q = torch.randn(N, D, generator=gen, dtype=torch.float64)
    r = torch.randn(M, D, generator=gen, dtype=torch.float64)
    if aligned:
        targets = LabelTargets.aligned(N, M)
    else:
        labels = torch.randint(0, 3, (M,), generator=gen)
        targets = LabelTargets(labels[:N], labels)
    weights = torch.rand(N, M, generator=gen, dtype=torch.float64) * 2
    weights[weights < 0.3] = 0.0  # some negatives left out
    margins = torch.rand(N, M, generator=gen, dtype=torch.float64) * 0.5
    return q, r, targets, weights, margins


def _adjust(setting, weights, margins):
    margin = setting.get("margin")
    return Adjust(
        negative_weights=SoftTargets(weights) if setting.get("weights") else None,
        margin=SoftTargets(margins) if margin == "pairs" else margin,
        top_k=setting.get("top_k"),
        positive_mode="in" if setting.get("inside") else "out",
        smoothing=setting.get("smoothing", 0.0),
    )


def _expected(q, r, tau, targets, setting, weights, margins):
    margin = setting.get("margin")
    values = R.adjusted_info_nce(
        q,
        r,
        tau,
        targets.dense().tolist(),
        decoupled=setting.get("decoupled", False),
        weights=weights.tolist() if setting.get("weights") else None,
        margin=margins.tolist() if margin == "pairs" else margin,
        top_k=setting.get("top_k"),
        inside=setting.get("inside", False),
        smoothing=setting.get("smoothing", 0.0),
    )
    return torch.tensor([0.0 if v is None else v for v in values], dtype=torch.float64)


@pytest.mark.parametrize("aligned", [False, True], ids=["labels", "aligned"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_adjustments_match_the_reference_dense_and_tiled(name, aligned, gen):
    setting = SETTINGS[name]
    q, r, targets, weights, margins = _problem(gen, aligned)
    adjust = _adjust(setting, weights, margins)
    tau = [0.3 + 0.05 * i for i in range(N)]
    inv_t = 1.0 / torch.tensor(tau, dtype=torch.float64)
    expected = _expected(q, r, tau, targets, setting, weights, margins)
    for execution, tile in (("dense", None), ("tiled", 3), ("tiled", 4)):
        out = softmax_objective(
            q,
            r,
            inv_t,
            targets,
            decoupled=setting.get("decoupled", False),
            normalize=True,
            execution=execution,
            tile_size=tile,
            adjust=adjust,
        )
        got = torch.where(out.mask, out.per_anchor, 0.0)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_adjustments_gradcheck_with_temperature(name, gen):
    setting = SETTINGS[name]
    q, r, targets, weights, margins = _problem(gen)
    adjust = _adjust(setting, weights, margins)
    decoupled = setting.get("decoupled", False)

    def loss(query, reference, inv_t, execution):
        out = softmax_objective(
            query,
            reference,
            inv_t,
            targets,
            decoupled=decoupled,
            normalize=True,
            execution=execution,
            tile_size=4,
            adjust=adjust,
        )
        return torch.where(out.mask, out.per_anchor, 0.0)

    for inv_t in (torch.tensor(3.0, dtype=torch.float64), 1 / torch.linspace(0.2, 0.5, N)):
        leaves = (q.clone(), r.clone(), inv_t.double().clone())
        for x in leaves:
            x.requires_grad_(True)
        for execution in ("dense", "tiled"):
            assert torch.autograd.gradcheck(lambda *x, e=execution: loss(*x, e), leaves)


@pytest.mark.parametrize("name", ["weights", "margin", "in", "smoothing", "top_k"])
def test_symmetric_call_is_both_directions(name, gen):
    setting = SETTINGS[name]
    n = N
    q = torch.randn(n, D, generator=gen, dtype=torch.float64, requires_grad=True)
    r = torch.randn(n, D, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 3, (n,), generator=gen)
    targets = LabelTargets(labels, labels)
    weights = torch.rand(n, n, generator=gen, dtype=torch.float64) + 0.2
    margins = torch.rand(n, n, generator=gen, dtype=torch.float64)
    adjust = _adjust(setting, weights, margins)
    inv_t = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    run = {"normalize": True, "execution": "tiled", "tile_size": 3}
    both = symmetric_softmax_objective(q, r, inv_t, targets, adjust=adjust, **run)
    total = sum(out.per_anchor.sum() for out in both)
    grads = torch.autograd.grad(total, (q, r, inv_t))
    forward = softmax_objective(q, r, inv_t, targets, adjust=adjust, **run)
    backward = softmax_objective(r, q, inv_t, targets.transpose(), adjust=adjust.transpose(), **run)
    expected = forward.per_anchor.sum() + backward.per_anchor.sum()
    expected_grads = torch.autograd.grad(expected, (q, r, inv_t))
    torch.testing.assert_close(total, expected)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_adjustments_in_low_precision_accumulate_in_float32(dtype, gen):
    q, r, targets, weights, _ = _problem(gen)
    options = {
        "labels": targets.query_labels,
        "reference_labels": targets.reference_labels,
        "temperature": 0.2,
        "negative_weights": weights.float(),
        "margin": 0.2,
        "top_k_negatives": 4,
        "reduction": "none",
    }
    low, full = (x.to(dtype) for x in (q, r)), (x.to(dtype).float() for x in (q, r))
    with precision("low"):
        half = CF.info_nce(*low, **options)
        with torch.autocast("cpu", dtype=dtype):
            inside = CF.info_nce(*full, **options)
    exact = CF.info_nce(*(x.to(dtype).float() for x in (q, r)), **options)
    assert half.dtype == inside.dtype == torch.float32
    torch.testing.assert_close(half, exact, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(inside, exact, rtol=1e-2, atol=1e-2)


def test_info_nce_options_and_cluster_weights(gen):
    q, r, targets, _, _ = _problem(gen, aligned=True)
    clusters = torch.randint(0, 3, (M,), generator=gen)
    weights = ClusterWeights(clusters[:N], clusters, same=0.25, other=1.0)
    got = CF.info_nce(
        q,
        r,
        temperature=0.5,
        negative_weights=weights,
        margin=0.1,
        top_k_negatives=5,
        label_smoothing=0.1,
        reduction="none",
    )
    dense = weights.dense().tolist()
    expected = R.adjusted_info_nce(
        q, r, 0.5, targets.dense().tolist(), weights=dense, margin=0.1, top_k=5, smoothing=0.1
    )
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    restricted = ClusterWeights(clusters[:N], clusters, same=1.0, other=0.0)
    assert restricted.transpose().dense().equal(restricted.dense().T)
    with pytest.raises(ValueError, match="finite and >= 0"):
        ClusterWeights(clusters, clusters, same=-1.0)


def test_supcon_in_mode_matches_the_papers_l_in(gen):
    z = torch.randn(6, 2, D, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    got = CF.supcon(z, labels, temperature=0.3, positive_mode="in", reduction="none")
    stacked = torch.cat([z[:, 0], z[:, 1]])
    rows = labels.repeat(2)
    for a in range(12):
        others = [k for k in range(12) if k != a]
        unit = torch.nn.functional.normalize(stacked, dim=1)
        logits = {k: float(unit[a] @ unit[k]) / 0.3 for k in others}
        positives = [logits[k] for k in others if rows[k] == rows[a]]
        expected = R._lse(list(logits.values())) - R._lse(positives) + math.log(len(positives))
        assert abs(float(got[a % 6, a // 6]) - expected) < 1e-10


def test_top_k_at_least_the_negatives_is_plain_and_one_keeps_the_hardest(gen):
    q, r, targets, _, _ = _problem(gen, aligned=True)
    inv_t = torch.tensor(2.0, dtype=torch.float64)
    run = {"normalize": True}
    plain = softmax_objective(q, r, inv_t, targets, **run).per_anchor
    every = softmax_objective(q, r, inv_t, targets, adjust=Adjust(top_k=M), **run).per_anchor
    torch.testing.assert_close(every, plain)
    one = softmax_objective(q, r, inv_t, targets, adjust=Adjust(top_k=1), **run).per_anchor
    logits = torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(r, dim=1).T
    logits = logits * 2.0
    positive = logits.diagonal()
    hardest = logits.masked_fill(torch.eye(N, M, dtype=torch.bool), -torch.inf).amax(1)
    torch.testing.assert_close(one, torch.logaddexp(positive, hardest) - positive)


def test_zero_negative_weights_equal_leaving_those_references_out(gen):
    q, r, targets, _, _ = _problem(gen, aligned=True)
    inv_t = torch.tensor(3.0, dtype=torch.float64)
    weights = torch.ones(N, M, dtype=torch.float64)
    weights[:, N:] = 0.0  # the references beyond the pairs leave every denominator
    masked = softmax_objective(
        q, r, inv_t, targets, normalize=True, adjust=Adjust(negative_weights=SoftTargets(weights))
    )
    short = softmax_objective(q, r[:N], inv_t, LabelTargets.aligned(N, N), normalize=True)
    torch.testing.assert_close(masked.per_anchor, short.per_anchor)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"positive_mode": "sum"}, "positive_mode"),
        ({"top_k": 0}, "top_k"),
        ({"smoothing": 1.0}, "smoothing"),
        ({"smoothing": 0.1, "positive_mode": "in"}, "smoothing"),
        ({"margin": float("nan")}, "margin"),
    ],
)
def test_bad_adjustments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Adjust(**kwargs)


def test_adjustment_shapes_and_values_are_checked(gen):
    q, r, targets, _, _ = _problem(gen, aligned=True)
    inv_t = torch.tensor(3.0, dtype=torch.float64)
    wrong = Adjust(negative_weights=SoftTargets(torch.ones(N, M + 1, dtype=torch.float64)))
    with pytest.raises(ValueError, match="negative_weights have shape"):
        softmax_objective(q, r, inv_t, targets, normalize=True, adjust=wrong)
    with pytest.raises(ValueError, match="finite and non-negative"):
        SoftTargets(-torch.ones(N, M))


def test_a_temperature_per_reference(gen):
    q, r, targets, _, _ = _problem(gen)
    tau_q = torch.linspace(0.3, 0.6, N, dtype=torch.float64)
    tau_r = torch.linspace(0.5, 2.0, M, dtype=torch.float64)
    labels = targets.query_labels, targets.reference_labels
    unit_q, unit_r = (
        torch.nn.functional.normalize(q, dim=1),
        torch.nn.functional.normalize(r, dim=1),
    )
    logits = unit_q @ unit_r.T / tau_q[:, None] / tau_r[None, :]
    positive = targets.dense().double()
    expected = torch.logsumexp(logits, 1) - (positive * logits).sum(1) / positive.sum(1)
    for execution in ("dense", "tiled"):
        got = CF.info_nce(
            q,
            r,
            labels=labels[0],
            reference_labels=labels[1],
            temperature=tau_q,
            reference_temperature=tau_r,
            reduction="none",
            execution=execution,
            tile_size=4,
        )
        torch.testing.assert_close(got, expected)
    leaves = (q.clone().requires_grad_(), tau_r.clone().requires_grad_())

    def loss(x, t):
        return CF.info_nce(
            x, r, labels=labels[0], reference_labels=labels[1], reference_temperature=t
        )

    assert torch.autograd.gradcheck(loss, leaves)
    with pytest.raises(ValueError, match="one direction"):
        CF.info_nce(q[:M], r, reference_temperature=tau_r, symmetric=True)
    with pytest.raises(ValueError, match=r"shape \(9,\)"):
        CF.info_nce(q, r, reference_temperature=tau_r[:3])
