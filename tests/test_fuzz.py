"""Every registered loss, fed bad input or extreme settings, answers with a ``ValueError`` or
``TypeError`` that names the problem, or with a finite loss whose gradients are finite; a
stateful loss keeps working after a refused batch.

:data:`FUZZ` says how to build each loss and a valid batch; a registered loss without an
entry fails :func:`test_every_registered_loss_has_a_fuzz_spec`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from contrastor import losses as L
from contrastor.losses.registry import Task, lookup, names

N, D = 8, 16


@dataclass
class Trial:
    """A loss (and its companions) with one batch: ``z`` the embedding tensors (float
    leaves, batch first), ``labels`` per-sample ids or targets, ``extra`` other per-sample
    inputs; ``call`` feeds them to the loss."""

    loss: nn.Module
    z: list[Tensor]
    call: Callable[[Trial], Tensor]
    labels: Tensor | None = None
    index: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)
    companions: tuple[nn.Module, ...] = ()

    def run(self) -> Tensor:
        return self.call(self)

    def leaves(self) -> list[Tensor]:
        params = [p for m in (self.loss, *self.companions) for p in m.parameters()]
        return [x for x in self.z if x.requires_grad] + params


#: name -> ``make(n, d, dtype, generator, **options)``, a :class:`Trial`
Maker = Callable[..., Trial]


def _embeddings(count: int, n: int, d: int, dtype: torch.dtype, g: torch.Generator):
    return [
        torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
        for _ in range(count)
    ]


def _fed(feed: str, views: int = 2, labels: int | None = None) -> Maker:
    """A trial of a trainable loss: the module the image task builds, fed as it feeds it
    (:data:`contrastor.train.objectives.FEEDS`); ``labels``: classes of the class ids."""

    def make(name: str, n: int, d: int, dtype, g, **options) -> Trial:
        task = Task(embedding_dim=d, dataset_size=max(n, 1), views=views)
        spec = lookup(name)
        loss = spec.module(**{**spec.options(task), **spec.variant, **options})
        count = {"predict_target": 4, "predict_self": 2}.get(feed, views)
        z = _embeddings(count, n, d, dtype, g)
        ids = None if labels is None else torch.randint(0, labels, (n,), generator=g)
        companions = ()
        if spec.predictor == "directpred":
            companions = (L.DirectPredictor(d, every=1),)
        return Trial(loss, z, CALLS[feed], ids, torch.arange(n), companions=companions)

    return make


def _predicted(t: Trial) -> tuple[Tensor, Tensor]:
    p1, p2 = t.z[0], t.z[1]
    for predictor in t.companions:
        p1, p2 = predictor(p1), predictor(p2)
    return p1, p2


CALLS: dict[str, Callable[[Trial], Tensor]] = {
    "views": lambda t: t.loss(*t.z),
    "pair": lambda t: t.loss(t.z[0], t.z[1]),
    "labelled_views": lambda t: t.loss(t.z, t.labels),
    "labelled_pair": lambda t: t.loss(t.z[0], t.z[1], labels=t.labels),
    "labelled_indexed": lambda t: t.loss(t.z, t.labels, index=t.index),
    "indexed": lambda t: t.loss(*t.z, index=t.index),
    "momentum_keys": lambda t: t.loss(t.z[0], t.z[1].detach()),
    "predict_target": lambda t: t.loss(*_predicted(t), t.z[2].detach(), t.z[3].detach()),
    "predict_self": lambda t: t.loss(*_predicted(t), t.z[0], t.z[1]),
}


def _custom(module: type[nn.Module], call: Callable[[Trial], Tensor], **inputs: Any) -> Maker:
    """A trial of a loss the image task does not train: ``inputs`` name how to draw its
    other per-sample tensors (``"ids"``, ``"targets"``, ``"list"``, ``"paths"``) or its
    embeddings (``"timestamps"``: ``(n, T, d)`` each)."""

    def make(name: str, n: int, d: int, dtype, g, **options) -> Trial:
        kwargs = {"dim": d} if "dim" in inspect.signature(module).parameters else {}
        z = _embeddings(inputs.get("embeddings", 2), n, d, dtype, g)
        extra = {}
        if inputs.get("timestamps"):  # two views of 4 timestamps per series
            z = [torch.randn(n, 4, d, generator=g).to(dtype).requires_grad_() for _ in z]
        if inputs.get("list"):  # a query and k = 3 documents of graded relevance each
            z = [z[0], torch.randn(n, 3, d, generator=g).to(dtype).requires_grad_()]
            extra["relevance"] = torch.randint(0, 3, (n, 3), generator=g).double()
            extra["relevance"][:, 0] = 2.0
        labels = {
            "ids": lambda: torch.randint(0, 3, (n,), generator=g),
            "targets": lambda: torch.rand(n, generator=g, dtype=torch.float64),
            "paths": lambda: torch.randint(0, 2, (n, 3), generator=g),
            None: lambda: None,
        }[inputs.get("labels")]()
        if inputs.get("predictions"):
            extra["predictions"] = torch.rand(n, generator=g, dtype=torch.float64)
        return Trial(module(**kwargs, **options), z, call, labels, extra=extra)

    return make


FUZZ: dict[str, Maker] = {
    "cwcl": _custom(L.CWCL, lambda t: t.loss(t.z[0], t.z[1])),
    "one_to_k": _custom(L.OneToK, lambda t: t.loss(*t.z), list=True),
    "proxy_contrast": _custom(
        functools.partial(L.ProxyContrast, classes=3),
        lambda t: t.loss(t.z[0], t.labels),
        embeddings=1,
        labels="ids",
    ),
    "multilevel_supcon": _custom(
        L.MultilevelSupCon, lambda t: t.loss(t.z, t.labels), labels="paths"
    ),
    "gated_pair_contrast": _custom(
        functools.partial(L.GatedPairContrast, classes=3),
        lambda t: t.loss(
            *t.z,
            query_classes=torch.arange(len(t.z[0])) % 3,
            reference_classes=torch.arange(len(t.z[1])) % 2,
        ),
    ),
    "proto_nce": _custom(L.PrototypicalContrast, lambda t: t.loss(*t.z, index=t.index)),
    "simctg": _custom(L.TokenContrastive, lambda t: t.loss(t.z[0]), embeddings=1, timestamps=True),
    "anchor_alignment": _custom(L.AnchorAlignment, lambda t: t.loss(*t.z), embeddings=3),
    "mixup_contrastive": _custom(
        L.MixupContrastive,
        lambda t: t.loss(t.z[0], t.z[1], torch.arange(len(t.z[0])).roll(1), 0.7),
    ),
    "orthogonal_shared_unique": _custom(
        L.OrthogonalSharedUnique, lambda t: t.loss(t.z[:2], t.z[2:]), embeddings=4
    ),
    "semantic_anchors": _custom(
        functools.partial(L.SemanticAnchors, classes=3),
        lambda t: t.loss(t.z[0], t.labels),
        embeddings=1,
        labels="ids",
    ),
    "contrastive_gap": _fed("pair"),
    "symile": _fed("views", views=3),
    "align_uniform": _fed("pair"),
    "supcon": _fed("labelled_views", labels=3),
    "supcon_in": _fed("labelled_views", labels=3),
    "triplet": _fed("labelled_views", labels=3),
    "multi_similarity": _fed("labelled_views", labels=3),
    "nt_xent": _fed("views"),
    "swav": _fed("views"),
    "spectral_contrastive": _fed("pair"),
    "pairwise_clip": _fed("views", views=3),
    "hard_contrastive": _fed("views"),
    "dcl": _fed("views"),
    "dclw": _fed("views"),
    "sogclr": _fed("indexed"),
    "isogclr": _fed("indexed"),
    "info_nce": _fed("pair"),
    "clip": _fed("pair"),
    "moco": _fed("momentum_keys"),
    "mochi": _fed("momentum_keys"),
    "mv_info_nce": _fed("views", views=3),
    "mv_dhel": _fed("views", views=3),
    "debiased_contrastive": _fed("views"),
    "hcl": _fed("views"),
    "cacr": _fed("views", views=3),
    "byol": _fed("predict_target"),
    "simsiam": _fed("predict_self"),
    "directpred": _fed("predict_target"),
    "z_loss": _custom(L.ZLoss, lambda t: t.loss(t.z[0], t.labels), embeddings=1, labels="ids"),
    "decoupled_softmax": _fed("labelled_pair", labels=3),
    "mann_whitney": _fed("pair"),
    "listwise_wasserstein": _custom(
        L.ListwiseWasserstein, lambda t: t.loss(*t.z, t.extra["relevance"]), list=True
    ),
    "listnet": _custom(L.ListNet, lambda t: t.loss(*t.z, t.extra["relevance"]), list=True),
    "margin_mse": _custom(L.MarginMSE, lambda t: t.loss(*t.z, t.extra["relevance"]), list=True),
    "distill_kl": _custom(L.DistillKL, lambda t: t.loss(*t.z, t.extra["relevance"]), list=True),
    "barlow_twins": _fed("pair"),
    "vicreg": _fed("pair"),
    "rince": _fed("pair"),
    "siglip": _fed("pair"),
    "hierarchical_supcon": _custom(
        L.HierarchicalSupCon, lambda t: t.loss(t.z, t.labels), labels="paths"
    ),
    "whitened_contrastive": _fed("views"),
    "sbcl": _fed("labelled_indexed", labels=3),
    "supremix": _custom(L.SupReMix, lambda t: t.loss(t.z, t.labels), labels="targets"),
    "conr": _custom(
        L.ConR,
        lambda t: t.loss(t.z[0], t.labels, t.extra["predictions"]),
        embeddings=1,
        labels="targets",
        predictions=True,
    ),
    "amcl": _fed("pair"),
    "hierarchical_contrastive": _custom(
        L.HierarchicalContrastive, lambda t: t.loss(*t.z), timestamps=True
    ),
}


def trial(name: str, n: int = N, d: int = D, dtype=torch.float32, seed: int = 0, **options):
    torch.manual_seed(seed)
    return FUZZ[name](name, n, d, dtype, torch.Generator().manual_seed(seed), **options)


def tempered(name: str) -> bool:
    """The loss takes a ``temperature`` option."""
    return "temperature" in inspect.signature(lookup(name).module).parameters


def assert_finite(t: Trial, name: str) -> None:
    """The loss is finite, and so is every gradient of its inputs and parameters (a zero row
    included: no gradient over 1e6)."""
    loss = t.run()
    assert loss.ndim == 0 and torch.isfinite(loss), f"{name}: loss {loss}"
    loss.backward()
    for x in t.leaves():
        if x.grad is not None:
            assert torch.isfinite(x.grad).all(), f"{name}: non-finite gradient"
            assert x.grad.abs().max() < 1e6, f"{name}: gradient {x.grad.abs().max():.3g}"


def answers(t: Trial, name: str, problem: str) -> None:
    """A clear error whose message matches ``problem``, or a finite loss and gradients."""
    try:
        assert_finite(t, name)
    except (ValueError, TypeError) as err:
        assert re.search(problem, str(err), flags=re.IGNORECASE), (
            f"{name}: {type(err).__name__}({err}) does not name the problem ({problem})"
        )


def refuses(t: Trial, name: str, problem: str) -> None:
    with pytest.raises((ValueError, TypeError), match=f"(?i){problem}"):
        t.run().backward()


def test_every_registered_loss_has_a_fuzz_spec():
    assert sorted(FUZZ) == sorted(names())


ALL = sorted(FUZZ)
NONFINITE = "nan|inf|finite"
SHAPE = "shape|width|dim|size|rows|match|same|length|batch|as many"


@pytest.mark.parametrize("name", ALL)
def test_valid_batch_is_finite(name):
    assert_finite(trial(name), name)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("name", ALL)
def test_non_finite_embeddings_are_refused(name, value):
    t = trial(name)
    with torch.no_grad():
        t.z[-1][1, 0] = value
    refuses(t, name, NONFINITE)


@pytest.mark.parametrize(
    "mismatch",
    {
        "width": lambda x: torch.cat([x, x[..., :1]], -1),
        "rows": lambda x: x[:-1],
    }.items(),
    ids=["width", "rows"],
)
@pytest.mark.parametrize("name", ALL)
def test_mismatched_inputs_are_refused(name, mismatch):
    """The last embedding input one column wider, or one row shorter, than the others."""
    t = trial(name)
    if len(t.z) < 2:
        pytest.skip("one embedding input")
    t.z[-1] = mismatch[1](t.z[-1]).detach().requires_grad_()
    refuses(t, name, SHAPE)


@pytest.mark.parametrize("name", ALL)
def test_short_labels_are_refused(name):
    t = trial(name)
    if t.labels is None:
        pytest.skip("no labels")
    t.labels = t.labels[:-1]
    refuses(t, name, SHAPE + "|label|target")


@pytest.mark.parametrize("name", ALL)
def test_empty_batch_is_refused(name):
    refuses(trial(name, n=0), name, "empty|at least|sample|batch")


@pytest.mark.parametrize("name", ALL)
def test_single_sample(name):
    answers(trial(name, n=1), name, "at least|sample|batch|positive|negative|one")


@pytest.mark.parametrize("name", ALL)
def test_labels_with_no_positive(name):
    t = trial(name)
    if t.labels is None or t.labels.is_floating_point():
        pytest.skip("no class labels")
    t.labels = torch.arange(len(t.labels)) if t.labels.ndim == 1 else _distinct(t.labels)
    answers(t, name, "positive")


def _distinct(paths: Tensor) -> Tensor:
    return torch.arange(paths.numel()).view_as(paths)


@pytest.mark.parametrize("name", ALL)
def test_zero_rows_keep_gradients_finite_and_bounded(name):
    t = trial(name)
    with torch.no_grad():
        for x in t.z:
            x[0] = 0.0
    assert_finite(t, name)


@pytest.mark.parametrize("name", ALL)
def test_integer_embeddings_are_refused(name):
    t = trial(name)
    t.z = [x.detach().round().long() for x in t.z]
    refuses(t, name, "float|dtype|integer|type")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ALL)
def test_half_precision_embeddings(name, dtype):
    answers(trial(name, dtype=dtype), name, "float|dtype|precision")


@pytest.mark.parametrize("value", [0.0, -0.1])
@pytest.mark.parametrize("name", [n for n in ALL if tempered(n)])
def test_non_positive_temperature_is_refused(name, value):
    with pytest.raises(ValueError, match=r"(?i)temperature"):
        trial(name, temperature=value).run()


@pytest.mark.parametrize("name", [n for n in ALL if tempered(n)])
def test_tiny_temperature_stays_finite(name):
    """Finite, or refused as outside the loss's declared temperature range."""
    try:
        t = trial(name, temperature=1e-4)
    except ValueError as err:
        assert "temperature" in str(err), f"{name}: {err}"
        return
    answers(t, name, "temperature")


@pytest.mark.parametrize("name", ALL)
def test_a_refused_batch_leaves_the_loss_working(name):
    """Valid, refused (NaN), valid: the last call gives what it gives without the refused
    one in between, so no state was touched by the refusal."""
    values = []
    for refused in (True, False):
        first = trial(name)
        assert_finite(first, name)
        if refused:
            bad = trial(name, seed=1)
            bad.loss, bad.companions = first.loss, first.companions
            with torch.no_grad():
                bad.z[0][2, 1] = float("nan")
            with pytest.raises(ValueError):
                bad.run()
        last = trial(name, seed=2)
        last.loss, last.companions = first.loss, first.companions
        torch.manual_seed(3)
        values.append(last.run())
    assert torch.isfinite(values[0]), name
    torch.testing.assert_close(values[0], values[1])


@pytest.mark.parametrize("name", ALL)
def test_odd_width(name):
    """A width that splits into no heads or groups (15) is refused by name or works."""
    answers(trial(name, d=15), name, SHAPE + "|head|group|multiple")
