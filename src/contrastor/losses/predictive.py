"""Negative-free predictive objectives (BYOL / SimSiam), DirectPred's closed-form linear
predictor, and the Z-loss module for supervised heads."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastor._validation import check_embeddings, when_valid
from contrastor.functional.predictive import predictive_cosine, z_loss
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import LossSpec, Task, register
from contrastor.scale.distributed import exchange_for

__all__ = ["DirectPredictor", "PredictiveCosine", "ZLoss"]


def _no_options(task: Task) -> dict[str, Any]:
    return {}


@register(
    LossSpec(
        name="byol",
        title="BYOL",
        inputs="online predictions, target projections",
        positives="the other view (no negatives)",
        paper="Grill et al. 2020, Bootstrap Your Own Latent",
        tiled=False,
        ddp="local pairs",
        state="momentum target, predictor",
        per_sample=False,
        views=(2, 2),
        feed="predict_target",
        options=_no_options,
        target=True,
        momentum=(0.996, True),
        predictor="head",
        function=predictive_cosine,
    ),
    LossSpec(
        name="simsiam",
        title="SimSiam",
        inputs="online predictions, stop-gradient projections",
        positives="the other view (no negatives)",
        paper="Chen & He 2021, Exploring Simple Siamese Representation Learning",
        tiled=False,
        ddp="local pairs",
        state="predictor",
        per_sample=False,
        views=(2, 2),
        feed="predict_self",
        options=_no_options,
        predictor="head",
        function=predictive_cosine,
    ),
    LossSpec(
        name="directpred",
        title="DirectPred",
        inputs="online projections, target projections",
        positives="the other view (no negatives)",
        paper=(
            "Tian et al. 2021, Understanding self-supervised Learning Dynamics without "
            "Contrastive Pairs"
        ),
        tiled=False,
        ddp="local pairs; correlation averaged over ranks",
        state="momentum target, input correlation",
        per_sample=False,
        views=(2, 2),
        feed="predict_target",
        options=_no_options,
        target=True,
        predictor="directpred",
        function=predictive_cosine,
    ),
)
class PredictiveCosine(DeclaredLoss):
    """BYOL/SimSiam loss ``2 - 2 cos(p, sg(t))`` (see
    :func:`contrastor.functional.predictive_cosine`).

    Inputs: ``(prediction, target)``, two ``(n, d)`` batches whose rows pair up, or
    ``(p1, p2, t1, t2)``, symmetrised as ``(L(p1, t2) + L(p2, t1)) / 2`` (each view's
    prediction regresses the other view's target). DDP: local pairs.
    Positives: the other view of the sample; there are no negatives.
    Settings: a :class:`~contrastor.state.MomentumEncoder` target (BYOL, momentum
    0.99-0.996), or the online network itself (SimSiam), and a predictor (an MLP, or
    :class:`DirectPredictor`).
    Related: :class:`BarlowTwins`, :class:`VICReg`.

    Example:
        >>> loss = PredictiveCosine()(predictor(z1), predictor(z2), target(x1), target(x2))
    """

    function = staticmethod(predictive_cosine)

    def forward(self, *tensors: Tensor, **keywords: Any) -> Tensor:
        if len(tensors) == 2:
            return super().forward(*tensors, **keywords)
        if len(tensors) == 4:
            p1, p2, t1, t2 = tensors
            return 0.5 * (super().forward(p1, t2, **keywords) + super().forward(p2, t1, **keywords))
        raise ValueError("give (prediction, target) or (p1, p2, t1, t2)")


class DirectPredictor(nn.Module):
    """Linear predictor set directly from the correlation of its inputs (DirectPred).

    During training, ``F <- rho F + (1 - rho) E_B[f f^T]`` (``f`` the detached inputs, the
    batch mean taken over all ranks under DDP); every ``every`` calls, with
    ``F = U diag(s) U^T``, the weight becomes ``W = U diag(p) U^T`` with
    ``p_j = sqrt(max(s_j, 0) / max_k s_k) + eps``. The output is ``f W`` (gradient flows to
    ``f``; ``W`` is a buffer, not trained). Tian, Chen & Ganguli, "Understanding
    self-supervised Learning Dynamics without Contrastive Pairs", ICML 2021 (rho = 0.3,
    eps = 0.1, every = 5 in its experiments).

    Example:
        >>> predictor = DirectPredictor(64)
        >>> loss = PredictiveCosine()(predictor(z1), predictor(z2), t1, t2)
    """

    def __init__(
        self,
        dim: int,
        *,
        rho: float = 0.3,
        eps: float = 0.1,
        every: int = 5,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        if dim < 1 or every < 1 or not 0.0 <= rho < 1.0:
            raise ValueError("need dim >= 1, every >= 1 and rho in [0, 1)")
        self.rho, self.eps, self.every = rho, eps, every
        self.gather_distributed = gather_distributed
        self.register_buffer("correlation", torch.zeros(dim, dim))
        self.register_buffer("weight", torch.eye(dim))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def forward(self, f: Tensor) -> Tensor:
        if f.ndim != 2 or f.shape[1] != self.weight.shape[0]:
            raise ValueError(f"inputs must be (n, {self.weight.shape[0]}), got {tuple(f.shape)}")
        check_embeddings(f, "DirectPredictor inputs")
        if self.training:
            when_valid(lambda: self._observe(f.detach()))
        return f @ self.weight.to(f.dtype).clone()  # later updates must not touch this graph

    @torch.no_grad()
    def _observe(self, f: Tensor) -> None:
        ex = exchange_for(self.gather_distributed)
        f = f.to(self.correlation.dtype)
        count = ex.total(torch.tensor(float(f.shape[0]), device=f.device))
        batch = ex.total(f.T @ f) / count
        first = int(self.updates) == 0
        self.correlation.copy_(
            batch if first else self.rho * self.correlation + (1 - self.rho) * batch
        )
        if int(self.updates) % self.every == 0:
            s, u = torch.linalg.eigh(self.correlation)
            top = s.max().clamp_min(1e-12)
            p = torch.sqrt(s.clamp_min(0) / top) + self.eps
            self.weight.copy_(u @ torch.diag(p) @ u.T)
        self.updates += 1

    def extra_repr(self) -> str:
        return f"dim={self.weight.shape[0]}, rho={self.rho}, eps={self.eps}, every={self.every}"


@register(
    LossSpec(
        name="z_loss",
        title="Z-loss",
        inputs="class logits + class ids",
        positives="the true class",
        paper=(
            "de Brebisson & Vincent 2016, The Z-loss: a shift and scale invariant classification "
            "loss belonging to the Spherical Family"
        ),
        tiled=False,
        ddp="local samples",
        feed=None,
        unfit="a loss for classification heads (logits), not for embeddings",
        function=z_loss,
    ),
)
class ZLoss(DeclaredLoss):
    """The Z-loss for classification heads (see :func:`contrastor.functional.z_loss`); the
    logits of each sample are standardised, so the loss ignores their shift and scale.

    Inputs: ``logits`` ``(n, C)`` and ``target`` ``(n,)`` class ids.
    Positives: the true class.
    Settings: ``a`` (sharpness) and ``b`` (margin), 1 each.
    Related: :class:`SupCon` for the embedding itself.

    Example:
        >>> loss = ZLoss(a=1.0, b=1.0)(logits, labels)
    """

    function = staticmethod(z_loss)
    defaults: ClassVar[dict[str, Any]] = {"a": 1.0, "b": 1.0}
