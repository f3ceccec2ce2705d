"""The loss cases every generic test runs: how to build inputs, call the library's functional
form, and compute the independent reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import contrastor.functional as CF
from tests import reference as ref


@dataclass
class Case:
    name: str
    build: Callable[[int, int, torch.dtype, torch.Generator], dict]
    call: Callable[..., torch.Tensor]
    reference: Callable[[dict, float], list]  # per-anchor values, None = no positive
    embeddings: tuple[str, ...]  # keys of the embedding tensors
    views: bool = False  # per-anchor output is (n, V), batch dim 0 of every key
    labelled: str | None = None  # key of the labels, if any
    tiled: bool = True  # has a tiled execution path
    low_temperature: float = 0.01  # the extreme temperature of the half-precision check
    scale_invariant: bool = True  # the loss reads directions only (cosine similarity)


def _pairs(n, d, dtype, g):
    return {
        "query": torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype),
        "reference": torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype),
    }


def _views(v):
    def build(n, d, dtype, g):
        return {"z": torch.randn(n, v, d, generator=g, dtype=torch.float64).to(dtype)}

    return build


def _labelled_views(v, classes):
    def build(n, d, dtype, g):
        out = _views(v)(n, d, dtype, g)
        out["labels"] = torch.randint(0, classes, (n,), generator=g)
        return out

    return build


def _eye(n):
    return [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]


def _flat(per_anchor_2d):
    return [x for row in per_anchor_2d for x in row]


def _sym(a, b):
    return [0.5 * (x + y) for x, y in zip(a, b, strict=True)]


CASES = [
    Case(
        "info_nce",
        _pairs,
        lambda x, t, **kw: CF.info_nce(x["query"], x["reference"], temperature=t, **kw),
        lambda x, t: ref.info_nce(x["query"], x["reference"], t, _eye(len(x["query"]))),
        ("query", "reference"),
    ),
    Case(
        "info_nce_symmetric",
        _pairs,
        lambda x, t, **kw: CF.info_nce(
            x["query"], x["reference"], temperature=t, symmetric=True, **kw
        ),
        lambda x, t: _sym(
            ref.info_nce(x["query"], x["reference"], t, _eye(len(x["query"]))),
            ref.info_nce(x["reference"], x["query"], t, _eye(len(x["query"]))),
        ),
        ("query", "reference"),
    ),
    Case(
        "nt_xent",
        _views(2),
        lambda x, t, **kw: CF.nt_xent(x["z"], temperature=t, **kw),
        lambda x, t: _flat(ref.multiview(x["z"], lambda i, j: float(i == j), t)),
        ("z",),
        views=True,
    ),
    Case(
        "nt_xent_3views",
        _views(3),
        lambda x, t, **kw: CF.nt_xent(x["z"], temperature=t, **kw),
        lambda x, t: _flat(ref.multiview(x["z"], lambda i, j: float(i == j), t)),
        ("z",),
        views=True,
    ),
    Case(
        "supcon",
        _labelled_views(2, 3),
        lambda x, t, **kw: CF.supcon(x["z"], x["labels"], temperature=t, **kw),
        lambda x, t: _flat(
            ref.multiview(x["z"], lambda i, j: float(x["labels"][i] == x["labels"][j]), t)
        ),
        ("z",),
        views=True,
        labelled="labels",
    ),
    Case(
        "supcon_in",
        _labelled_views(2, 3),
        lambda x, t, **kw: CF.supcon(x["z"], x["labels"], temperature=t, positive_mode="in", **kw),
        lambda x, t: _flat(
            ref.multiview(
                x["z"], lambda i, j: float(x["labels"][i] == x["labels"][j]), t, inside=True
            )
        ),
        ("z",),
        views=True,
        labelled="labels",
    ),
    Case(
        "hard_contrastive",
        _views(2),
        lambda x, t, **kw: CF.hard_contrastive(x["z"], top_k_negatives=3, temperature=t, **kw),
        lambda x, t: _flat(ref.multiview(x["z"], lambda i, j: float(i == j), t, top_k=3)),
        ("z",),
        views=True,
    ),
    Case(
        "hard_contrastive_3views",
        _views(3),
        lambda x, t, **kw: CF.hard_contrastive(x["z"], top_k_negatives=4, temperature=t, **kw),
        lambda x, t: _flat(ref.multiview(x["z"], lambda i, j: float(i == j), t, top_k=4)),
        ("z",),
        views=True,
    ),
    Case(
        "spectral_contrastive",
        _pairs,
        lambda x, t, **kw: CF.spectral_contrastive(x["query"], x["reference"], mu=0.5, **kw),
        lambda x, t: ref.spectral(x["query"], x["reference"], 0.5),
        ("query", "reference"),
        tiled=False,
        scale_invariant=False,
    ),
    Case(
        "dcl",
        _views(2),
        lambda x, t, **kw: CF.dcl(x["z"], temperature=t, **kw),
        lambda x, t: _flat(ref.multiview(x["z"], lambda i, j: float(i == j), t, decoupled=True)),
        ("z",),
        views=True,
    ),
    Case(
        "dclw",
        _views(2),
        lambda x, t, **kw: CF.dclw(x["z"], temperature=t, sigma=0.5, **kw),
        lambda x, t: _flat(
            ref.multiview(
                x["z"],
                lambda i, j: float(i == j),
                t,
                decoupled=True,
                pos_weight=ref.dclw_weights(x["z"], 0.5),
            )
        ),
        ("z",),
        views=True,
    ),
    Case(
        "siglip",
        _pairs,
        lambda x, t, **kw: CF.siglip(x["query"], x["reference"], temperature=t, bias=-2.0, **kw),
        lambda x, t: ref.siglip(x["query"], x["reference"], t, -2.0, _eye(len(x["query"]))),
        ("query", "reference"),
    ),
    Case(
        "alignment",
        _pairs,
        lambda x, t, **kw: CF.alignment(x["query"], x["reference"], alpha=2.0, **kw),
        lambda x, t: ref.alignment(x["query"], x["reference"], 2.0),
        ("query", "reference"),
        tiled=False,
    ),
]

CASES += [
    Case(
        "debiased",
        _views(2),
        lambda x, t, **kw: CF.debiased_contrastive(x["z"], temperature=t, class_prior=0.1, **kw),
        lambda x, t: _flat(ref.debiased(x["z"], t, 0.1, 0.0)),
        ("z",),
        views=True,
    ),
    Case(
        "hard_negatives_3views",
        _views(3),
        lambda x, t, **kw: CF.debiased_contrastive(
            x["z"], temperature=t, class_prior=0.05, concentration=1.0, **kw
        ),
        lambda x, t: _flat(ref.debiased(x["z"], t, 0.05, 1.0)),
        ("z",),
        views=True,
    ),
    Case(
        "hard_negatives_labelled",
        _labelled_views(2, 3),
        lambda x, t, **kw: CF.debiased_contrastive(
            x["z"], x["labels"], temperature=t, class_prior=0.0, concentration=0.5, **kw
        ),
        lambda x, t: _flat(ref.debiased(x["z"], t, 0.0, 0.5, x["labels"].tolist())),
        ("z",),
        views=True,
        labelled="labels",
    ),
    Case(
        "cacr",
        _views(3),
        lambda x, t, **kw: CF.cacr(
            x["z"], attraction_temperature=1 / t, repulsion_temperature=2.0, **kw
        ),
        lambda x, t: _flat(ref.cacr(x["z"], 1 / t, 2.0)),
        ("z",),
        views=True,
        tiled=False,
    ),
    Case(
        "mv_info_nce",
        _views(3),
        lambda x, t, **kw: CF.mv_info_nce(x["z"], temperature=t, **kw),
        lambda x, t: ref.mv_info_nce(x["z"], t),
        ("z",),
        views=True,
    ),
    Case(
        "mv_dhel",
        _views(3),
        lambda x, t, **kw: CF.mv_dhel(x["z"], temperature=t, **kw),
        lambda x, t: ref.mv_dhel(x["z"], t),
        ("z",),
        views=True,
    ),
    Case(
        "predictive_cosine",
        _pairs,
        lambda x, t, **kw: CF.predictive_cosine(x["query"], x["reference"], **kw),
        lambda x, t: ref.predictive_cosine(x["query"], x["reference"]),
        ("query",),
        tiled=False,
    ),
]


def _labelled_pairs(classes):
    def build(n, d, dtype, g):
        out = _pairs(n, d, dtype, g)
        out["labels"] = torch.randint(0, classes, (n,), generator=g)
        return out

    return build


def _guided_pairs(n, d, dtype, g):
    out = _pairs(n, d, dtype, g)
    out["guide"] = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return out


def _label_matrix(labels):
    values = labels.tolist()
    return [[float(a == b) for b in values] for a in values]


def _modalities(n, d, dtype, g):
    return {k: torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype) for k in "abc"}


CASES += [
    Case(
        "cwcl",
        _guided_pairs,
        lambda x, t, **kw: CF.cwcl(
            x["query"], x["reference"], guide=x["guide"], temperature=t, **kw
        ),
        lambda x, t: _sym(
            ref.info_nce(x["query"], x["reference"], t, ref.cwcl_targets(x["guide"])),
            ref.info_nce(x["reference"], x["query"], t, ref.cwcl_targets(x["guide"])),
        ),
        ("query", "reference"),
    ),
    Case(
        "decoupled_softmax",
        _labelled_pairs(3),
        lambda x, t, **kw: CF.decoupled_softmax(
            x["query"], x["reference"], temperature=t, labels=x["labels"], **kw
        ),
        lambda x, t: ref.decoupled_softmax(
            x["query"], x["reference"], t, _label_matrix(x["labels"])
        ),
        ("query", "reference"),
        labelled="labels",
    ),
    Case(
        "mann_whitney",
        _labelled_pairs(2),
        lambda x, t, **kw: CF.mann_whitney(
            x["query"], x["reference"], temperature=t, labels=x["labels"], **kw
        ),
        lambda x, t: ref.mann_whitney(x["query"], x["reference"], t, _label_matrix(x["labels"])),
        ("query", "reference"),
        labelled="labels",
        tiled=False,
    ),
    Case(
        "symile",
        _modalities,
        lambda x, t, **kw: CF.symile([x["a"], x["b"], x["c"]], temperature=t, **kw),
        lambda x, t: _flat(ref.symile([x["a"], x["b"], x["c"]], t)),
        ("a", "b", "c"),
    ),
]


def _paths_views(n, d, dtype, g):
    out = _views(2)(n, d, dtype, g)
    out["paths"] = torch.stack(
        [torch.randint(0, 2, (n,), generator=g), torch.randint(0, 3, (n,), generator=g)], 1
    )
    return out


def _shared_prefix(paths):
    rows = paths.tolist()

    def weight(i, j):
        shared = 0
        for a, b in zip(rows[i], rows[j], strict=True):
            if a != b:
                break
            shared += 1
        return shared / len(rows[i])

    return weight


def _subclassed_views(n, d, dtype, g):
    out = _views(2)(n, d, dtype, g)
    out["labels"] = torch.randint(0, 2, (n,), generator=g)
    out["subclasses"] = out["labels"] * 2 + torch.randint(0, 2, (n,), generator=g)
    return out


CASES += [
    Case(
        "hierarchical_supcon",
        _paths_views,
        lambda x, t, **kw: CF.hierarchical_supcon(x["z"], x["paths"], temperature=t, **kw),
        lambda x, t: _flat(ref.multiview(x["z"], _shared_prefix(x["paths"]), t)),
        ("z",),
        views=True,
    ),
    Case(
        "sbcl",
        _subclassed_views,
        lambda x, t, **kw: CF.sbcl(
            x["z"], x["labels"], x["subclasses"], temperature=t, class_temperature=2 * t, **kw
        ),
        lambda x, t: _flat(
            ref.sbcl(x["z"], x["labels"].tolist(), x["subclasses"].tolist(), t, 2 * t, 1.0)
        ),
        ("z",),
        views=True,
        labelled="labels",
    ),
]

CASES += [
    Case(
        "rince",
        _pairs,
        lambda x, t, **kw: CF.rince(
            x["query"], x["reference"], temperature=t, q=0.2, lam=0.05, **kw
        ),
        lambda x, t: ref.rince(x["query"], x["reference"], t, 0.2, 0.05, _eye(len(x["query"]))),
        ("query", "reference"),
        # RINCE is not normalised: at tau = 0.01 its gradients are ~e^20 / tau, past fp16
        low_temperature=0.1,
    ),
]


def _timestamps(n, d, dtype, g):
    """Two views of 5 timestamps per series (an odd length: the pooling drops one)."""
    return {
        k: torch.randn(n, 5, d, generator=g, dtype=torch.float64).to(dtype)
        for k in ("first", "second")
    }


CASES += [
    Case(
        "hierarchical_contrastive",
        _timestamps,
        lambda x, t, **kw: CF.hierarchical_contrastive(
            x["first"], x["second"], temperature=t, alpha=0.3, similarity="cosine", **kw
        ),
        lambda x, t: ref.hierarchical_contrastive(x["first"], x["second"], t, 0.3, 0, True),
        ("first", "second"),
        tiled=False,
    ),
]

BY_NAME = {c.name: c for c in CASES}
