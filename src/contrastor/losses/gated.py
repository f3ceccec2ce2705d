"""Positives between any two classes, each pair compared in its own gated subspace (Hydra)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastor._validation import check_labels
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.similarity import EPS, unit_rows
from contrastor.functional.infonce import info_nce
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["ClassPairGates", "GatedPairContrast"]


class ClassPairGates(nn.Module):
    """One learned gate per unordered pair of classes, ``g_(a,b) = sigmoid(w_(a,b))`` in
    ``(0, 1)^d``, and the similarity it defines: anchor i of the class pair ``(a_i, b_i)``
    compares every reference in that pair's subspace,

        s_ij = cos(g_i * q_i, g_i * r_j),   g_i = g_(a_i, b_i)

    (computed from ``(g_i^2 q_i) . r_j`` and ``(g_i^2) . (r_j^2)``, no ``(n, m, d)`` tensor).
    :meth:`bind` gives the ``score`` function of a batch for
    :func:`~contrastor.functional.info_nce`. Gates start at ``sigmoid(init)``."""

    def __init__(self, classes: int, dim: int, *, init: float = 2.0) -> None:
        super().__init__()
        if classes < 1 or dim < 1:
            raise ValueError(f"need classes >= 1 and dim >= 1, got {classes} and {dim}")
        self.classes = classes
        self.weight = nn.Parameter(torch.full((classes * (classes + 1) // 2, dim), float(init)))

    def pair_index(self, a: Tensor, b: Tensor) -> Tensor:
        """Row of the unordered pair ``{a, b}`` in :attr:`weight`."""
        if bool(((a < 0) | (a >= self.classes) | (b < 0) | (b >= self.classes)).any()):
            raise ValueError(f"class ids must lie in [0, {self.classes})")
        low, high = torch.minimum(a, b), torch.maximum(a, b)
        return high * (high + 1) // 2 + low

    def gates(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.sigmoid(self.weight[self.pair_index(a, b)])

    def bind(self, anchor_classes: Tensor, partner_classes: Tensor) -> BoundGates:
        """The score function of a batch whose anchor i belongs to the pair
        ``(anchor_classes[i], partner_classes[i])``."""
        return BoundGates(self, anchor_classes, partner_classes)


class BoundGates(nn.Module):
    """:class:`ClassPairGates` bound to a batch's class pairs: a ``score`` function whose
    parameters are the gates'."""

    def __init__(self, gates: ClassPairGates, a: Tensor, b: Tensor) -> None:
        super().__init__()
        self.gates, self.a, self.b = gates, a, b

    def forward(self, q: Tensor, r: Tensor, rows: slice, cols: slice) -> Tensor:
        g = self.gates.gates(self.a[rows], self.b[rows]).to(q.dtype)
        inner = (g * unit_rows(g * q)) @ r.T  # (g q_i / |g q_i|) . (g r_j)
        # |g_i r_j|^2 without an (n, m, d) tensor; a reference with no length in the
        # subspace scores 0 with no gradient (as a zero row under cosine similarity)
        squared = g.square() @ r.square().T
        short = squared < EPS**2
        length = torch.where(short, 1.0, squared).sqrt()
        return torch.where(short, 0.0, inner / length)


@register(
    LossSpec(
        name="gated_pair_contrast",
        title="Class-pair gated subspaces (Hydra)",
        inputs="paired embeddings + the class of each member",
        positives="the index-aligned partner, from any class pair, in that pair's subspace",
        paper="2024, Rethinking Positive Pairs in Contrastive Learning",
        tiled=True,
        state="one learned gate per class pair",
        views=(2, 2),
        feed=None,
        unfit="needs the class pairs that define each positive",
        function=info_nce,
    ),
)
class GatedPairContrast(TemperatureLoss):
    """InfoNCE between paired samples of any two classes, each anchor's row compared in
    the subspace of its class pair's learned gate (see :class:`ClassPairGates`), so
    relations between classes become positives without collapsing the space.
    "Rethinking Positive Pairs in Contrastive Learning" (Hydra), 2024.

    Inputs: ``query`` and ``reference`` ``(n, d)`` (pair i: a sample of class
    ``query_classes[i]`` and one of ``reference_classes[i]``), the two class tensors
    ``(n,)``.
    Positives: the index-aligned partner.
    Settings: ``classes`` and ``dim`` size the gates; temperature 0.1; ``sparsity`` adds
    ``sparsity * mean(g)`` to keep subspaces small (0: off).
    Related: :class:`InfoNCE` (one shared space), :class:`SupCon` (same-class positives).

    Example:
        >>> loss_fn = GatedPairContrast(classes=10, dim=128)
        >>> loss = loss_fn(z_a, z_b, query_classes=y_a, reference_classes=y_b)
    """

    defaults: ClassVar[dict[str, Any]] = {"sparsity": 0.0}

    def __init__(self, temperature: float | None = None, *, classes: int, dim: int, **kwargs: Any):
        super().__init__(temperature, **kwargs)
        self.gates = ClassPairGates(classes, dim)

    def forward(
        self,
        query: Tensor,
        reference: Tensor,
        *,
        query_classes: Tensor,
        reference_classes: Tensor,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        for name, classes in (
            ("query_classes", query_classes),
            ("reference_classes", reference_classes),
        ):
            check_labels(classes, query.shape[0], name)
        score = self.gates.bind(query_classes, reference_classes)
        out = info_nce(
            query,
            reference,
            score=score,
            temperature=self.temperature.argument(),
            weights=weights,
            reduction=self.reduction,
            return_output=return_output,
            **self.run_options(),
        )
        if not self.sparsity or return_output or self.reduction == "none":
            return out
        return out + self.sparsity * self.gates.gates(query_classes, reference_classes).mean()
