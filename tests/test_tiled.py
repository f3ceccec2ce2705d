"""The tiled path equals the dense path, values and gradients, for every tiled loss."""

from __future__ import annotations

import pytest
import torch

import contrastor.functional as CF
from contrastor import losses as L
from contrastor.engine import ComparatorTargets, MultiLabelTargets
from contrastor.engine.softmax import DENSE_UP_TO, resolve_execution
from tests.cases import CASES

TILED = [c for c in CASES if c.tiled]


def _values_and_grads(fn, tensors):
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    out = fn(*leaves)
    weights = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * weights).sum().backward()
    return out.detach(), [leaf.grad for leaf in leaves]


def _compare(fn_dense, fn_tiled, tensors, rtol, atol):
    vd, gd = _values_and_grads(fn_dense, tensors)
    vt, gt = _values_and_grads(fn_tiled, tensors)
    assert torch.allclose(vd, vt, rtol=rtol, atol=atol), (vd - vt).abs().max()
    for a, b in zip(gd, gt, strict=True):
        assert torch.allclose(a, b, rtol=rtol, atol=atol), (a - b).abs().max()


@pytest.mark.parametrize("tile", [2, 7, 64])
@pytest.mark.parametrize("case", TILED, ids=[c.name for c in TILED])
def test_tiled_equals_dense_float64(case, tile, gen):
    x = case.build(11, 5, torch.float64, gen)
    keys = case.embeddings

    def run(execution):
        def fn(*tensors):
            y = dict(x)
            y.update(zip(keys, tensors, strict=True))
            return case.call(y, 0.2, reduction="none", execution=execution, tile_size=tile)

        return fn

    _compare(run("dense"), run("tiled"), [x[k] for k in keys], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", TILED, ids=[c.name for c in TILED])
def test_tiled_equals_dense_float32(case, gen):
    x = case.build(300, 64, torch.float32, gen)
    keys = case.embeddings

    def run(execution):
        def fn(*tensors):
            y = dict(x)
            y.update(zip(keys, tensors, strict=True))
            return case.call(y, 0.1, execution=execution, tile_size=100)

        return fn

    _compare(run("dense"), run("tiled"), [x[k] for k in keys], rtol=1e-5, atol=1e-6)


def _pair(gen, n=9, m=13, d=4):
    return (
        torch.randn(n, d, generator=gen, dtype=torch.float64),
        torch.randn(m, d, generator=gen, dtype=torch.float64),
    )


@pytest.mark.parametrize(
    "kind", ["labels", "multilabel", "jaccard", "comparator", "soft", "queue", "decoupled"]
)
def test_tiled_target_kinds(kind, gen):
    q, r = _pair(gen)
    ql, rl = torch.randint(0, 3, (9,), generator=gen), torch.randint(0, 3, (13,), generator=gen)
    mq = torch.randint(0, 2, (9, 4), generator=gen)
    mr = torch.randint(0, 2, (13, 4), generator=gen)
    options = {
        "labels": {"labels": ql, "reference_labels": rl},
        "multilabel": {"labels": mq, "reference_labels": mr},
        "jaccard": {"targets": MultiLabelTargets(mq, mr, mode="jaccard")},
        "comparator": {
            "targets": ComparatorTargets(
                ql, rl, lambda a, b: (a[:, None] - b[None, :]).abs().double() * 0.5
            )
        },
        "soft": {"targets": torch.rand(9, 13, generator=gen, dtype=torch.float64)},
        "queue": {},
        "decoupled": {"labels": ql, "reference_labels": rl, "decoupled": True},
    }[kind]

    def run(execution):
        return lambda a, b: CF.info_nce(
            a, b, temperature=0.3, reduction="none", execution=execution, tile_size=4, **options
        )

    _compare(run("dense"), run("tiled"), [q, r], rtol=1e-10, atol=1e-12)


def test_tiled_temperature_and_bias_gradients(gen):
    q, r = _pair(gen, 10, 10)
    taus = torch.linspace(0.1, 0.5, 10, dtype=torch.float64)
    for tau in (torch.tensor(0.2, dtype=torch.float64), taus):
        _compare(
            lambda a, b, t: CF.info_nce(
                a, b, temperature=t, symmetric=t.ndim == 0, execution="dense"
            ),
            lambda a, b, t: CF.info_nce(
                a, b, temperature=t, symmetric=t.ndim == 0, execution="tiled", tile_size=3
            ),
            [q, r, tau],
            rtol=1e-10,
            atol=1e-12,
        )
    _compare(
        lambda a, b, t, c: CF.siglip(a, b, temperature=t, bias=c, execution="dense"),
        lambda a, b, t, c: CF.siglip(a, b, temperature=t, bias=c, execution="tiled", tile_size=4),
        [q, r, torch.tensor(0.1, dtype=torch.float64), torch.tensor(-3.0, dtype=torch.float64)],
        rtol=1e-10,
        atol=1e-12,
    )


def test_tiled_gradcheck(gen):
    q, r = _pair(gen, 5, 6, 3)
    q.requires_grad_(True)
    r.requires_grad_(True)
    t = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: CF.info_nce(a, b, temperature=c, execution="tiled", tile_size=2), (q, r, t)
    )
    z = torch.randn(5, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a: CF.supcon(a, torch.tensor([0, 1, 0, 1, 1]), execution="tiled", tile_size=3), (z,)
    )


def test_tiled_errors_match_dense(gen):
    z = torch.randn(4, 5, generator=gen)
    with pytest.raises(ValueError, match="no anchor has a positive"):
        CF.supcon(z, torch.arange(4), execution="tiled", tile_size=3)
    with pytest.raises(ValueError, match="no negatives"):
        CF.dcl(torch.randn(1, 2, 5, generator=gen), execution="tiled")
    with pytest.raises(ValueError, match="execution"):
        CF.info_nce(z, z, execution="fast")
    with pytest.raises(ValueError, match="execution"):
        L.InfoNCE(execution="fast")


def test_auto_execution_and_module_options(gen):
    cpu = torch.device("cpu")
    assert resolve_execution("auto", 10, 10, cpu)[0]
    assert not resolve_execution("auto", DENSE_UP_TO["cpu"] + 1, 1, cpu)[0]
    assert not resolve_execution("tiled", 1, 1, cpu)[0]
    assert resolve_execution("dense", 10**6, 10**6, cpu)[0]
    assert resolve_execution("tiled", 10, 10, cpu, 3) == (False, 3)
    q, r = _pair(gen, 8, 8)
    tiled = L.InfoNCE(0.2, symmetric=True, execution="tiled", tile_size=3)(q, r)
    dense = L.InfoNCE(0.2, symmetric=True, execution="dense")(q, r)
    assert torch.allclose(tiled, dense, rtol=1e-10)
    views = L.DCLW(0.2, execution="tiled", tile_size=5)(q, r)
    assert torch.allclose(views, L.DCLW(0.2, execution="dense")(q, r), rtol=1e-10)
