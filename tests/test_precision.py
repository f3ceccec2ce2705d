"""The precision policy: every softmax/sigmoid-family loss gives the same values and gradients
inside ``torch.autocast`` and with bf16/fp16 inputs as in float32, dense and tiled; the
low-precision-operand mode stays within tolerance; the tile loop never syncs."""

from __future__ import annotations

import pytest
import torch

import contrastor.functional as CF
from contrastor import losses as L
from contrastor._validation import validation
from contrastor.bench.measure import host_syncs
from contrastor.engine import ComparatorTargets
from contrastor.engine.precision import operand_dtype, precision, set_precision
from tests.cases import CASES

FAMILY = [c for c in CASES if c.tiled]
EXECUTIONS = [("dense", None), ("tiled", 7)]


def _representable(x: dict, dtype: torch.dtype) -> dict:
    """Inputs rounded to ``dtype`` and held in float32, so both calls see the same values."""
    return {k: v.to(dtype).float() if v.is_floating_point() else v for k, v in x.items()}


def _run(case, x, keys, *, autocast=None, cast=None, **kw):
    leaves = {k: x[k].detach().clone().requires_grad_(True) for k in keys}
    y = dict(x)
    y.update({k: leaf.to(cast) if cast else leaf for k, leaf in leaves.items()})
    with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=autocast is not None):
        per = case.call(y, 0.1, reduction="none", **kw)
    weights = torch.linspace(0.5, 1.5, per.numel()).reshape(per.shape)
    (per.float() * weights).sum().backward()
    return per.detach().float(), [leaves[k].grad.float() for k in keys]


def _assert_close(a, b, tol):
    (va, ga), (vb, gb) = a, b
    assert va.dtype == torch.float32
    scale = vb.abs().max().clamp_min(1e-6)
    assert (va - vb).abs().max() <= tol * scale, ((va - vb).abs().max(), scale)
    for x, y in zip(ga, gb, strict=True):
        assert (x - y).abs().max() <= tol * y.abs().max().clamp_min(1e-12)


@pytest.mark.parametrize(("execution", "tile"), EXECUTIONS, ids=[e for e, _ in EXECUTIONS])
@pytest.mark.parametrize("case", FAMILY, ids=[c.name for c in FAMILY])
def test_autocast_and_half_inputs_match_float32(case, execution, tile, gen):
    x = _representable(case.build(24, 16, torch.float32, gen), torch.bfloat16)
    keys = case.embeddings
    kw = {"execution": execution, "tile_size": tile}
    exact = _run(case, x, keys, **kw)
    for autocast in (torch.bfloat16, torch.float16):
        _assert_close(_run(case, x, keys, autocast=autocast, **kw), exact, 2e-2)
    _assert_close(_run(case, x, keys, cast=torch.bfloat16, **kw), exact, 2e-2)


@pytest.mark.parametrize("execution", ["dense", "tiled"])
def test_many_positives_per_tile_row_under_autocast(execution, gen):
    """3 classes, 2,048 anchors in one tile: > 256 positives per row (a bf16 counter stalls)."""
    z = torch.randn(1024, 2, 32, generator=gen).bfloat16().float()
    labels = torch.randint(0, 3, (1024,), generator=gen)

    def call(a):
        return CF.supcon(a, labels, execution=execution, tile_size=4096, return_output=True)

    plain = call(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = call(z)
    for name in ("positive", "negative"):
        assert inside.terms[name].dtype == torch.float32
        assert torch.allclose(inside.terms[name], plain.terms[name], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("execution", ["dense", "tiled"])
def test_low_loss_gradient_under_autocast(execution, gen):
    """Near-aligned pairs at tau = 0.05: the loss is tiny and so is its gradient; inside
    autocast it must equal the float32 gradient, not one built from bf16 logits."""
    q = torch.randn(256, 64, generator=gen)
    r = q + 0.01 * torch.randn(256, 64, generator=gen)
    q, r = q.bfloat16().float(), r.bfloat16().float()

    def grads(autocast: bool, mode: str = "auto"):
        a, b = q.clone().requires_grad_(True), r.clone().requires_grad_(True)
        with precision(mode), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = CF.info_nce(
                a, b, temperature=0.05, symmetric=True, execution=execution, tile_size=64
            )
        loss.backward()
        return loss.detach(), a.grad, b.grad

    exact = grads(False)
    for got in (grads(True), grads(True, "exact")):
        assert torch.allclose(got[0], exact[0], rtol=1e-5)
        for g, e in zip(got[1:], exact[1:], strict=True):
            assert (g - e).abs().max() <= 1e-4 * e.abs().max()
    low = grads(True, "low")  # bf16 operands, float32 accumulation (the tensor-core numerics)
    assert abs(low[0] - exact[0]) <= 5e-2 * exact[0]
    for g, e in zip(low[1:], exact[1:], strict=True):
        assert (g - e).norm() <= 5e-2 * e.norm()


@pytest.mark.parametrize("case", FAMILY, ids=[c.name for c in FAMILY])
def test_low_precision_operands_stay_close(case, gen):
    """``precision("low")``: GEMM operands rounded to bf16 (emulated on CPU); statistics fp32."""
    x = _representable(case.build(24, 16, torch.float32, gen), torch.bfloat16)
    exact = _run(case, x, case.embeddings, execution="tiled", tile_size=7)
    with precision("low"):
        low = _run(
            case, x, case.embeddings, autocast=torch.bfloat16, execution="tiled", tile_size=7
        )
    (va, ga), (vb, gb) = low, exact
    assert (va - vb).abs().max() <= 3e-2 * vb.abs().max()
    for a, b in zip(ga, gb, strict=True):
        assert (a - b).norm() <= 5e-2 * b.norm()


@pytest.mark.parametrize("name", ["clip", "siglip", "nt_xent"])
def test_cosine_folded_into_scales_keeps_bf16_embeddings_exact(name, gen):
    """Low-precision operands are the caller's bf16 embeddings themselves, with cosine
    normalisation and 1/tau applied as float32 scales of each product: the loss equals the
    float32 one on the same values, where rounding the unit vectors to bf16 (normalise, then
    cast) would move it by far more. Gradients use bf16 copies of dL/dl (2e-2 in norm)."""
    q = torch.randn(96, 48, generator=gen).mul_(3.0).bfloat16()
    r = (q.float() + 3.0 * torch.randn(96, 48, generator=gen)).bfloat16()
    calls = {
        "clip": lambda a, b: CF.info_nce(a, b, temperature=0.02, symmetric=True, tile_size=32),
        "siglip": lambda a, b: CF.siglip(a, b, temperature=0.02, bias=-5.0, tile_size=32),
        "nt_xent": lambda a, b: CF.nt_xent([a, b], temperature=0.02, tile_size=32),
    }
    call = calls[name]

    def run(a, b, mode):
        a, b = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
        with precision(mode):
            loss = call(a, b)
        loss.backward()
        return loss.detach().double(), a.grad.double(), b.grad.double()

    exact = run(q.float(), r.float(), "exact")
    low = run(q, r, "low")
    assert abs(low[0] - exact[0]) <= 1e-5 * exact[0]
    for g, e in zip(low[1:], exact[1:], strict=True):
        assert (g - e).norm() <= 2e-2 * e.norm()
    unit = [torch.nn.functional.normalize(x.float(), dim=1).bfloat16().float() for x in (q, r)]
    rounded = run(*unit, "exact")  # what bf16 operands of normalised rows would give
    assert abs(rounded[0] - exact[0]) > 20 * abs(low[0] - exact[0])


def test_operand_policy():
    x = torch.zeros(2, 2)
    assert operand_dtype(x) == torch.float32  # outside any loss call: full precision
    with pytest.raises(ValueError, match="precision must be one of"):
        set_precision("fast")


def test_module_losses_under_autocast(gen):
    z = torch.randn(16, 2, 8, generator=gen).bfloat16().float()
    labels = torch.randint(0, 3, (16,), generator=gen)
    for loss in (L.SupCon(0.1), L.NTXent(0.1)):
        args = (z, labels) if isinstance(loss, L.SupCon) else (z,)
        plain = loss(*args)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            inside = loss(*args)
        assert inside.dtype == torch.float32 and torch.allclose(inside, plain, rtol=1e-6)


@pytest.mark.parametrize(
    "name", ["clip", "nt_xent", "supcon", "siglip", "decoupled", "soft", "comparator"]
)
def test_sync_count_does_not_grow_with_tiles(name, gen):
    q = torch.randn(48, 8, generator=gen, requires_grad=True)
    r = torch.randn(48, 8, generator=gen, requires_grad=True)
    labels = torch.randint(0, 4, (48,), generator=gen)
    calls = {
        "clip": lambda t: CF.info_nce(q, r, symmetric=True, execution="tiled", tile_size=t),
        "nt_xent": lambda t: CF.nt_xent([q, r], execution="tiled", tile_size=t),
        "supcon": lambda t: CF.supcon([q, r], labels, execution="tiled", tile_size=t),
        "siglip": lambda t: CF.siglip(q, r, execution="tiled", tile_size=t),
        "decoupled": lambda t: CF.dcl([q, r], execution="tiled", tile_size=t),
        "soft": lambda t: CF.info_nce(
            q, r, targets=torch.rand(48, 48, generator=gen), execution="tiled", tile_size=t
        ),
        "comparator": lambda t: CF.info_nce(
            q,
            r,
            targets=ComparatorTargets(labels, labels, lambda a, b: (a[:, None] == b).float()),
            execution="tiled",
            tile_size=t,
        ),
    }

    def step(tile):
        return lambda: calls[name](tile).backward()

    few, many = host_syncs(step(96)), host_syncs(step(12))  # 1 block vs 16 to 64 blocks
    assert many == few
    assert few == 1  # the deferred value checks, read together
    with validation(False):
        assert host_syncs(step(12)) == 0


COMPILED = {
    "clip": lambda a, b, y: CF.info_nce(a, b, symmetric=True, execution="tiled", tile_size=32),
    "nt_xent": lambda a, b, y: CF.nt_xent([a, b], execution="tiled", tile_size=32),
    "supcon": lambda a, b, y: CF.supcon([a, b], y, execution="tiled", tile_size=32),
    "siglip": lambda a, b, y: CF.siglip(a, b, execution="tiled", tile_size=32),
    "clip_dense": lambda a, b, y: CF.info_nce(a, b, symmetric=True, execution="dense"),
}


@pytest.mark.parametrize("name", list(COMPILED))
def test_one_graph_without_breaks(name, gen):
    q = torch.randn(64, 16, generator=gen, requires_grad=True)
    r = torch.randn(64, 16, generator=gen, requires_grad=True)
    y = torch.randint(0, 5, (64,), generator=gen)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(COMPILED[name])(q, r, y)
    assert explained.graph_break_count == 0, [b.reason for b in explained.break_reasons]
    assert explained.graph_count == 1


def test_compiled_training_step_matches_eager_without_recompiles(gen):
    torch._dynamo.reset()
    model = torch.nn.Linear(16, 16)
    y = torch.randint(0, 5, (32,), generator=gen)

    def step(x1, x2):
        return CF.supcon([model(x1), model(x2)], y, execution="tiled", tile_size=32)

    compiled = torch.compile(step, backend="aot_eager")
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(3):
            x1, x2 = torch.randn(32, 16, generator=gen), torch.randn(32, 16, generator=gen)
            loss = compiled(x1, x2)
            loss.backward()
            got = [p.grad.clone() for p in model.parameters()]
            model.zero_grad()
            expected = step(x1, x2)
            expected.backward()
            assert torch.allclose(loss, expected, rtol=1e-5)
            for g, p in zip(got, model.parameters(), strict=True):
                assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-6)
            model.zero_grad()


def test_stateful_module_losses_under_autocast(gen):
    """Losses whose modules do their own arithmetic (queue, moving averages) as well."""
    z = torch.randn(16, 8, generator=gen).bfloat16().float()
    keys = torch.randn(16, 8, generator=gen).bfloat16().float()
    index = torch.arange(16)
    for make, call in (
        (lambda: L.MoCo(0.1, queue_size=32, dim=8), lambda m: m(z, keys)),
        (lambda: L.GlobalContrastive(16, 0.3), lambda m: m(z, keys, index=index)),
    ):
        plain_module, inside_module = make(), make()
        plain = call(plain_module)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            inside = call(inside_module)
        assert inside.dtype == torch.float32 and torch.allclose(inside, plain, rtol=1e-6)
        for a, b in zip(plain_module.buffers(), inside_module.buffers(), strict=True):
            assert torch.allclose(a.float(), b.float(), rtol=1e-6)
