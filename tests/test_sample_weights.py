"""Per-sample weights are honoured by the losses outside the generic cases: the weighted
loss is the weight-normalised mean of the per-anchor losses (what the robust strategies
rely on), and negative weights are refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import contrastor.functional as CF

N, D = 6, 5


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return {
        "a": torch.randn(N, D, generator=g, dtype=torch.float64),
        "b": torch.randn(N, D, generator=g, dtype=torch.float64),
        "docs": torch.randn(N, 4, D, generator=g, dtype=torch.float64),
        "grades": torch.randint(0, 3, (N, 4), generator=g).double(),
        "views": F.normalize(torch.randn(N, 2, D, generator=g, dtype=torch.float64), dim=-1),
        "targets": torch.tensor([0.1, 0.5, 0.5, 0.9, 1.3, 2.0], dtype=torch.float64),
        "clean": torch.rand(N, generator=g, dtype=torch.float64),
        "suspects": torch.rand(N, N, generator=g) < 0.2,
        "labels": torch.tensor([0, 1, 2, 1, 0, 2]),
    }


def _phi() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 8), nn.ReLU(), nn.Linear(8, 4)).double()


def _seeded() -> torch.Generator:
    return torch.Generator().manual_seed(11)


PHI = _phi()
CALLS: dict[str, Callable[..., torch.Tensor]] = {
    "amcl": lambda x, **kw: CF.amcl(
        x["docs"][:, :2], x["docs"][:, 2:], PHI, topk=3, temperature_range=(0.05, 1.0), **kw
    ),
    "false_negative_cancellation": lambda x, **kw: CF.false_negative_cancellation(
        x["a"], x["b"], x["suspects"], mode="attract", **kw
    ),
    "listnet": lambda x, **kw: CF.listnet(x["a"], x["docs"], x["grades"] + 0.5, **kw),
    "listwise_wasserstein": lambda x, **kw: CF.listwise_wasserstein(
        x["a"], x["docs"], x["grades"], order=2, **kw
    ),
    "soft_retargeted_info_nce": lambda x, **kw: CF.soft_retargeted_info_nce(
        x["a"], x["b"], x["clean"], **kw
    ),
    "supremix": lambda x, **kw: CF.supremix(x["views"], x["targets"], generator=_seeded(), **kw),
    "whitened_contrastive": lambda x, **kw: CF.whitened_contrastive(
        [x["a"], x["b"]], groups=1, generator=_seeded(), **kw
    ),
    "z_loss": lambda x, **kw: CF.z_loss(x["a"], x["labels"], **kw),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_weights_give_the_weighted_mean_of_per_anchor_losses(name):
    call, x = CALLS[name], _data()
    w = torch.linspace(0.1, 2.0, N, dtype=torch.float64)
    per = call(x, reduction="none")
    assert per.shape[0] == N and bool(torch.isfinite(per).all())
    expanded = w.reshape(-1, *([1] * (per.ndim - 1))).expand_as(per)
    weighted = call(x, weights=w)
    assert torch.allclose(weighted, (per * expanded).sum() / expanded.sum(), rtol=1e-10)
    assert not torch.allclose(weighted, per.mean())  # the weights did change the loss
    with pytest.raises(ValueError, match="non-negative"):
        call(x, weights=-w)


def test_contrastive_gap_weights_its_per_pair_terms():
    """Uniformity is a property of the whole set; the CLIP and alignment terms are weighted."""
    x, w = _data(), torch.linspace(0.1, 2.0, N, dtype=torch.float64)
    a, b = x["a"], x["b"]
    got = CF.contrastive_gap(a, b, temperature=0.1, uniformity_weight=0.0, weights=w)
    expected = CF.info_nce(a, b, temperature=0.1, symmetric=True, weights=w) + CF.alignment(
        F.normalize(a, dim=1), F.normalize(b, dim=1), weights=w
    )
    assert torch.allclose(got, expected, rtol=1e-10)
    assert not torch.allclose(got, CF.contrastive_gap(a, b, temperature=0.1, uniformity_weight=0.0))
    with pytest.raises(ValueError, match="per-anchor"):
        CF.contrastive_gap(a, b, reduction="none")
