"""Modules that contrast samples with prototypes: semantic anchors with a margin (FedSA) and
learned class proxies restricted to the batch's classes (PCR)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastor.functional.prototypes import (
    class_prototypes,
    proxy_contrast,
    semantic_anchor_contrast,
)
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["ProxyContrast", "SemanticAnchors"]


@register(
    LossSpec(
        name="semantic_anchors",
        title="Margin-enhanced contrast to semantic anchors",
        inputs="embeddings + class ids",
        positives="the anchor of the sample's class, with an additive margin",
        paper=(
            "Zhou et al. 2025, FedSA: A Unified Representation Learning via Semantic Anchors "
            "for Prototype-based Federated Learning"
        ),
        tiled=False,
        ddp="per rank: each sample against the shared anchors",
        state="class anchors (buffer or parameter), moved by EMA towards class prototypes",
        views=(2, 2),
        supervised=True,
        feed=None,
        unfit="needs the number of classes to build its anchors",
        function=semantic_anchor_contrast,
    ),
)
class SemanticAnchors(TemperatureLoss):
    """Margin-enhanced contrast of each sample with one anchor per class (see
    :func:`contrastor.functional.semantic_anchor_contrast`). Zhou et al., AAAI 2025.

    Inputs: ``embeddings`` ``(n, d)`` and ``labels`` ``(n,)`` in ``[0, classes)``.
    Positives: the anchor of the sample's class, whose cosine must beat the other anchors'
    by ``margin``.
    Settings: ``classes`` and ``dim`` size the anchors (orthogonal unit rows when
    ``classes <= dim``, else random unit rows); ``margin`` 0.2, temperature 0.1;
    ``learnable=True`` trains the anchors with the model, else they are a buffer moved
    by :meth:`update` (FedSA's EMA towards the aggregated class prototypes).
    Related: :class:`SupCon` (samples as positives), :class:`ZLoss`.

    Example:
        >>> loss_fn = SemanticAnchors(classes=10, dim=128)
        >>> loss = loss_fn(z, labels)
        >>> loss_fn.update(z.detach(), labels)   # EMA towards this batch's class means
    """

    function = staticmethod(semantic_anchor_contrast)
    defaults: ClassVar[dict[str, Any]] = {"margin": 0.2, "momentum": 0.9}

    def __init__(
        self,
        temperature: float | None = None,
        *,
        classes: int,
        dim: int,
        learnable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(temperature, **kwargs)
        if classes < 2 or dim < 1:
            raise ValueError(f"need at least 2 classes and dim >= 1, got {classes} and {dim}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        anchors = torch.empty(classes, dim)
        if classes <= dim:
            nn.init.orthogonal_(anchors)
        else:
            anchors = nn.functional.normalize(torch.randn(classes, dim), dim=1)
        if learnable:
            self.anchors = nn.Parameter(anchors)
        else:
            self.register_buffer("anchors", anchors)

    def forward(self, embeddings: Tensor, labels: Tensor, **keywords: Any) -> Tensor:
        options = {k: v for k, v in self.call_options().items() if k != "momentum"}
        return semantic_anchor_contrast(embeddings, labels, self.anchors, **keywords, **options)

    @torch.no_grad()
    def update(self, embeddings: Tensor, labels: Tensor) -> None:
        """``a_c <- normalize(m a_c + (1 - m) p_c)`` for every class present, with ``p_c``
        the mean unit embedding of the class in ``embeddings`` (aggregate them across
        clients or ranks first for FedSA's global prototypes)."""
        prototypes, counts = class_prototypes(embeddings, labels, self.anchors.shape[0])
        prototypes = prototypes.to(self.anchors)
        moved = self.momentum * self.anchors + (1.0 - self.momentum) * prototypes
        present = (counts > 0).to(self.anchors.device).unsqueeze(1)
        self.anchors.copy_(
            torch.where(present, nn.functional.normalize(moved, dim=1), self.anchors)
        )

    def extra_repr(self) -> str:
        classes, dim = self.anchors.shape
        return f"classes={classes}, dim={dim}, margin={self.margin}"


@register(
    LossSpec(
        name="proxy_contrast",
        title="Proxy-based contrast (PCR)",
        inputs="embeddings + class ids",
        positives="the learned proxy of the sample's class, against the batch's classes only",
        paper=(
            "Lin et al. 2023, PCR: Proxy-based Contrastive Replay for Online Class-Incremental "
            "Continual Learning"
        ),
        tiled=False,
        ddp="per rank: each sample against the proxies of its batch's classes",
        state="learned class proxies",
        views=(2, 2),
        supervised=True,
        feed=None,
        unfit="needs the number of classes to build its proxies",
        function=proxy_contrast,
    ),
)
class ProxyContrast(TemperatureLoss):
    """Contrast with learned class proxies, only those of the classes in the batch (see
    :func:`contrastor.functional.proxy_contrast`). Lin et al., CVPR 2023.

    Inputs: ``embeddings`` ``(n, d)`` and ``labels`` ``(n,)`` in ``[0, classes)``.
    Positives: the proxy of the sample's class; negatives: the other classes present.
    Settings: ``classes`` and ``dim`` size the proxies (trained with the model, e.g. the
    classifier's weights in continual learning); temperature 0.1.
    Related: :class:`SemanticAnchors` (every class, a margin), :class:`SupCon`.

    Example:
        >>> loss = ProxyContrast(classes=100, dim=128)(z, labels)
    """

    function = staticmethod(proxy_contrast)

    def __init__(self, temperature: float | None = None, *, classes: int, dim: int, **kwargs: Any):
        super().__init__(temperature, **kwargs)
        if classes < 2 or dim < 1:
            raise ValueError(f"need at least 2 classes and dim >= 1, got {classes} and {dim}")
        self.proxies = nn.Parameter(torch.randn(classes, dim) / dim**0.5)

    def forward(self, embeddings: Tensor, labels: Tensor, **keywords: Any) -> Tensor:
        return proxy_contrast(embeddings, labels, self.proxies, **keywords, **self.call_options())
