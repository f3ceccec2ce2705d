"""The loss registry: every fact about a loss, declared once, beside its class.

A loss module is registered with the :func:`register` decorator, which takes one
:class:`LossSpec` per catalogue name the class serves (a class may serve several
configurations: ``DebiasedContrastive`` is both ``debiased`` and ``hcl``). Everything that
needs to know about losses reads this registry: the catalogue page (``docs/losses.md``),
``contrastor train --loss`` and its configuration checks, the image task's objective builder,
``contrastor bench`` and the generic tests.

Names: each loss has one canonical snake-case name; :func:`lookup` also accepts any spelling
that differs only in case, ``_`` or ``-`` (``NTXent``, ``ntxent``, ``nt-xent``) and the
earlier names listed in ``aliases``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from torch import nn

#: how the image task hands a batch to the loss (see :mod:`contrastor.train.objectives`)
FEEDS = (
    "views",  # loss(z1, z2, ...)
    "pair",  # loss(z1, z2)
    "labelled_views",  # loss(stack(z, 1), labels)
    "labelled_pair",  # loss(z1, z2, labels=labels)
    "labelled_indexed",  # loss(stack(z, 1), labels, index=index)
    "indexed",  # loss(z1, z2, ..., index=index)
    "momentum_keys",  # both directions of loss(z_v, key_w) with momentum keys
    "predict_target",  # loss(p(z1), p(z2), target(x1), target(x2))
    "predict_self",  # loss(p(z1), p(z2), z1, z2)
)
LOCAL_GATHERED = "local anchors vs gathered references"
GLOBAL_BATCH = "loss of the gathered global batch"


@dataclass(frozen=True)
class Task:
    """What the image task tells a loss when it builds one: the configured temperature and
    whether it is learnable, the embedding width, the number of views, the training set's
    size, the batch size and whether the run is distributed."""

    temperature: float = 0.2
    learnable_temperature: bool = False
    embedding_dim: int = 64
    views: int = 2
    dataset_size: int = 1000
    batch_size: int = 256
    distributed: bool = False

    def tempered(self) -> dict[str, Any]:
        """The keyword options of a temperature loss: temperature, learnability, gathering."""
        return {
            "temperature": self.temperature,
            "learnable_temperature": self.learnable_temperature,
            "gather_distributed": self.distributed,
        }

    def gathered(self) -> dict[str, Any]:
        return {"gather_distributed": self.distributed}

    def heads(self) -> int:
        """Heads (AMCL) or whitening groups (WhitenedCSE) that split the embedding: 4 when
        the width allows, else 1."""
        return 4 if self.embedding_dim % 4 == 0 else 1


@dataclass(frozen=True)
class LossSpec:
    """One catalogue entry.

    Attributes:
        name: canonical name (``contrastor train --loss NAME``); ``aliases``: earlier names.
        title: human name; ``paper``: the reference(s).
        inputs, positives, ddp, state: what it takes, what counts as a positive, what it
            does under ``torch.distributed``, the state it keeps (free text for the page).
        tiled: it has the exact tiled path (``execution="tiled"``).
        per_sample: it returns one loss per anchor (``reduction="none"``,
            ``return_output``), so robust training can weight it.
        views: ``(least, most)`` views it compares (``None``: no upper bound).
        supervised: it uses the class labels on the image task.
        feed: how the image task feeds it (one of :data:`FEEDS`), or ``None`` with ``unfit``
            saying why the image task cannot train it.
        options: the module's keyword options on the image task, from the :class:`Task`.
        variant: options that make this configuration of the class (shown in the API).
        target, predictor: the image task adds a momentum target encoder / a predictor
            (``"head"``: an MLP, ``"directpred"``: :class:`DirectPredictor`); ``momentum``:
            the target's (``(m0, True)``: BYOL's cosine ramp from ``m0`` to 1 over the run).
        module, function: the class (filled in by :func:`register`) and its functional form.
    """

    name: str
    title: str
    inputs: str
    positives: str
    paper: str
    tiled: bool
    ddp: str = LOCAL_GATHERED
    state: str = "-"
    per_sample: bool = True
    views: tuple[int, int | None] = (2, None)
    supervised: bool = False
    feed: str | None = "views"
    unfit: str | None = None
    options: Callable[[Task], dict[str, Any]] = Task.tempered
    variant: dict[str, Any] = field(default_factory=dict)
    target: bool = False
    momentum: tuple[float, bool] = (0.99, False)
    predictor: str | None = None
    aliases: tuple[str, ...] = ()
    function: Callable[..., Any] | None = None
    module: type[nn.Module] | None = None

    def __post_init__(self) -> None:
        if (self.feed is None) == (self.unfit is None):
            raise ValueError(f"{self.name}: give either a feed or the reason it is unfit")
        if self.feed is not None and self.feed not in FEEDS:
            raise ValueError(f"{self.name}: feed must be one of {FEEDS}, got {self.feed!r}")

    @property
    def pairwise(self) -> bool:
        """It compares exactly two views (or two modalities)."""
        return self.views[1] == 2

    @property
    def api(self) -> str:
        """``Module(variant) + companions / function`` as the catalogue shows it."""
        assert self.module is not None
        text = self.module.__name__
        if self.variant:
            text += "(" + ", ".join(f"{k}={v!r}" for k, v in self.variant.items()) + ")"
        if self.target:
            text += " + MomentumEncoder"
        if self.predictor == "directpred":
            text += " + DirectPredictor"
        if self.function is not None:
            text += f" / {self.function.__name__}"
        return text

    def build(self, task: Task) -> nn.Module:
        """The loss module configured for ``task``."""
        assert self.module is not None
        return self.module(**self.options(task), **self.variant)


_REGISTRY: dict[str, LossSpec] = {}
_SPELLINGS: dict[str, str] = {}

M = TypeVar("M", bound=type)


def _spelling(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def register(*specs: LossSpec) -> Callable[[M], M]:
    """Class decorator: register ``specs`` with the decorated class as their module."""

    def decorate(cls: M) -> M:
        for spec in specs:
            spec = replace(spec, module=cls)
            keys = {_spelling(spec.name), *map(_spelling, spec.aliases)}
            taken = [k for k in keys if k in _SPELLINGS and _SPELLINGS[k] != spec.name]
            if taken or spec.name in _REGISTRY:
                raise ValueError(f"loss name {spec.name!r} is already registered")
            _REGISTRY[spec.name] = spec
            _SPELLINGS.update(dict.fromkeys(keys, spec.name))
        return cls

    return decorate


def _loaded() -> dict[str, LossSpec]:
    import contrastor.losses  # noqa: F401  (the modules register themselves on import)

    return _REGISTRY


def lookup(name: str) -> LossSpec:
    """The spec of a loss by any accepted spelling; ``ValueError`` listing the names if none."""
    registry = _loaded()
    canonical = _SPELLINGS.get(_spelling(name))
    if canonical is None:
        raise ValueError(f"unknown loss {name!r}; registered: {', '.join(registry)}")
    return registry[canonical]


def canonical(name: str) -> str | None:
    """The canonical name of a spelling, or ``None`` when no loss answers to it."""
    _loaded()
    return _SPELLINGS.get(_spelling(name))


def specs() -> tuple[LossSpec, ...]:
    """Every registered loss, in catalogue order."""
    return tuple(_loaded().values())


def names() -> tuple[str, ...]:
    return tuple(_loaded())


def trainable() -> tuple[str, ...]:
    """Names ``contrastor train`` accepts on the bundled image task."""
    return tuple(s.name for s in specs() if s.feed is not None)
