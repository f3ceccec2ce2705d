"""Global contrastive losses optimised with small batches: SogCLR (moving-average estimates of
every anchor's negative term) and iSogCLR (plus an individual, learned temperature per sample).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from contrastor._validation import check_positive
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.partition import log_partition
from contrastor.engine.precision import full_precision
from contrastor.functional._common import finish
from contrastor.functional._views import off_diagonal_mask, view_batch
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import LOCAL_GATHERED, LossSpec, Task, register
from contrastor.losses.supcon import _views
from contrastor.scale.distributed import exchange_for
from contrastor.state.per_sample import PerSampleState

__all__ = ["GlobalContrastive"]


def _global_options(task: Task) -> dict[str, Any]:
    return {
        "dataset_size": task.dataset_size,
        "temperature": task.temperature,
        "views": task.views,
        **task.gathered(),
    }


@register(
    LossSpec(
        name="sogclr",
        title="SogCLR (global contrastive, moving averages)",
        inputs="V >= 2 views + dataset indices",
        positives="other views; negatives of the whole dataset via u_i",
        paper=(
            "Yuan et al. 2022, Provable Stochastic Optimization for Global Contrastive Learning; "
            "Jiang et al. 2023, Learning Unnormalized Statistical Models via Compositional "
            "Optimization"
        ),
        tiled=True,
        ddp=LOCAL_GATHERED + "; state written on every rank",
        state="u per sample and view",
        feed="indexed",
        options=_global_options,
    ),
    LossSpec(
        name="isogclr",
        title="iSogCLR (individual temperatures)",
        inputs="V >= 2 views + dataset indices",
        positives="as SogCLR, DRO temperature per sample",
        paper=(
            "Qiu et al. 2023, Not All Semantics are Created Equal: Contrastive Self-supervised "
            "Learning with Automatic Temperature Individualization"
        ),
        tiled=True,
        ddp=LOCAL_GATHERED + "; state written on every rank",
        state="u, tau and its momentum per sample",
        feed="indexed",
        options=_global_options,
        variant={"individual_temperature": True},
    ),
)
class GlobalContrastive(DeclaredLoss):
    """The global contrastive objective, every anchor against all negatives of the dataset,
    optimised from small batches with one moving average per anchor (SogCLR); optionally
    with individualised temperatures learned by distributionally robust optimisation (iSogCLR).

    For anchor ``a`` (view v of dataset sample ``i``), positive logit ``l_p`` (mean over the
    other views of i) and in-batch negatives ``N(a)`` (every view of every other sample):

        g_a = mean_{j in N(a)} exp(s_aj / tau_a)           (this batch's estimate)
        u_a <- (1 - gamma) u_a + gamma g_a                  (per-sample state, first visit: g_a)
        SogCLR:  L_a = -l_p + log u_a,  gradient  -grad l_p + grad g_a / u_a
        iSogCLR: L_a = tau_a (-l_p + log u_a + rho),  gradient tau_a (-grad l_p + grad g_a / u_a)

    so the gradient is that of ``-l_p + log E_{dataset} exp(s/tau)`` with the inner mean
    tracked across steps rather than taken from one batch (which biases small batches).
    iSogCLR also moves ``tau_i`` (one per sample) along ``dF/dtau = log u + rho -
    E_softmax[s/tau]`` with momentum ``temperature_momentum``, step ``temperature_lr``,
    clipped at +-3 and kept in ``temperature_range``: frequent semantics get larger
    temperatures, rare ones smaller.

    State (``state_dict``, ``state.*``): ``log_u`` ``(dataset_size, V)``, ``tau`` and
    ``tau_momentum`` ``(dataset_size,)``. DDP (``gather_distributed``): local anchors against
    the gathered views; the new state of every rank's samples is written on all ranks.

    Yuan et al., "Provable Stochastic Optimization for Global Contrastive Learning: Small Batch
    Does Not Harm Performance", ICML 2022; Jiang et al., "Learning Unnormalized Statistical
    Models via Compositional Optimization", ICML 2023; Qiu et al., "Not All Semantics are
    Created Equal: Contrastive Self-supervised Learning with Automatic Temperature
    Individualization", ICML 2023.

    Inputs: V >= 2 views ``(n, d)`` and ``index`` ``(n,)`` (call time), the samples'
    positions in the dataset (``dataset_size`` rows of state).
    Positives: the other views of the sample; negatives: the whole dataset, through the moving
    averages.
    Settings: ``gamma`` 0.9, temperature 0.1 (SogCLR); iSogCLR: ``rho`` 6,
    ``temperature_range`` (0.05, 1), ``temperature_lr`` 1e-3. Batches of 64-256 suffice.
    Related: :class:`NTXent` (the batch-only estimate), :class:`MoCo` (a queue instead).

    Example:
        >>> loss_fn = GlobalContrastive(len(dataset), temperature=0.2)
        >>> loss = loss_fn(z1, z2, index=batch_indices)
    """

    defaults: ClassVar[dict[str, Any]] = {
        "gamma": 0.9,
        "individual_temperature": False,
        "rho": 6.0,
        "temperature_range": (0.05, 1.0),
        "temperature_lr": 1e-3,
        "temperature_momentum": 0.9,
    }

    def __init__(
        self, dataset_size: int, temperature: float = 0.1, *, views: int = 2, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        check_positive(temperature, "temperature")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        low, high = self.temperature_range
        if self.individual_temperature and not 0 < low <= temperature <= high:
            raise ValueError(f"temperature {temperature} outside temperature_range {low, high}")
        self.state = PerSampleState(
            dataset_size, dtype=torch.float64, log_u=(views,), tau=(), tau_momentum=()
        )
        self.state.fill("tau", temperature)

    @full_precision
    def forward(
        self,
        *views: Tensor,
        index: Tensor,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        ex = exchange_for(self.gather_distributed)
        batch = view_batch(_views(views), similarity=self.similarity, exchange=ex)
        n, v = batch.n, batch.views
        if v != self.state.log_u.shape[1]:
            raise ValueError(f"the state holds {self.state.log_u.shape[1]} views, got {v}")
        if index.shape != (n,):
            raise ValueError(f"index must have shape ({n},), got {tuple(index.shape)}")
        tau = self.state.read("tau", index).to(batch.z)
        inv_t = (1.0 / tau).repeat(v)
        if self.individual_temperature:
            inv_t.requires_grad_(True)
        count = batch.everyone.shape[0] - batch.same_count(batch.same_sample)
        if bool((count < 1).any()):
            raise ValueError("the global contrastive loss needs at least two samples")
        log_n = torch.log(count.to(batch.z.dtype))
        lse = log_partition(
            batch.z,
            batch.everyone,
            inv_t,
            self_offset=batch.self_offset,
            exclude=batch.same_sample,
            execution=self.execution,
            tile_size=self.tile_size,
        )
        log_g = batch.per_sample(lse - log_n)
        logits = batch.view_logits(inv_t.detach()[:n].reshape(n, 1, 1))
        mask = off_diagonal_mask(v, logits.device)
        positive = (logits * mask).sum(2) / (v - 1)
        with torch.no_grad():
            old = self.state.read("log_u", index).to(log_g)
            seen = self.state.was_seen(index).to(log_g.device)[:, None]
            mixed = torch.logaddexp(
                math.log1p(-self.gamma) + old if self.gamma < 1 else old - math.inf,
                math.log(self.gamma) + log_g.detach(),
            )
            log_u = torch.where(seen, mixed, log_g.detach())
        ratio = torch.exp(log_g - log_u)
        per_anchor = -positive + log_u + ratio - ratio.detach()
        terms = {"positive": -positive.detach(), "negative": log_u}
        if self.individual_temperature:
            (scores,) = torch.autograd.grad(lse.sum(), inv_t, retain_graph=True)
            with torch.no_grad():
                expected = batch.per_sample(scores * inv_t)  # E_softmax[s / tau]
                grad_tau = log_u + self.rho - ratio.detach() * expected
                self._step_temperature(index, grad_tau.mean(1), ex)
            scale = tau[:, None]
            per_anchor = scale * (per_anchor + self.rho)
            terms = {name: scale * value for name, value in terms.items()}
        self.state.write("log_u", index, log_u, exchange=ex)
        output = ContrastiveOutput(per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), terms)
        if weights is not None:
            weights = weights.reshape(-1, 1).expand(n, v)
        return finish(output, self.reduction, weights, return_output, ex)

    def _step_temperature(self, index: Tensor, grad: Tensor, exchange) -> None:
        momentum = self.state.read("tau_momentum", index).to(grad)
        beta = self.temperature_momentum
        momentum = (1 - beta) * momentum + beta * grad.clamp(-3.0, 3.0)
        tau = self.state.read("tau", index).to(grad) - self.temperature_lr * momentum
        self.state.write("tau_momentum", index, momentum, exchange=exchange)
        self.state.write("tau", index, tau.clamp(*self.temperature_range), exchange=exchange)

    def temperatures(self) -> Tensor:
        """The per-sample temperatures (all equal unless ``individual_temperature``)."""
        return self.state.tau.clone()

    def extra_repr(self) -> str:
        kind = "iSogCLR" if self.individual_temperature else "SogCLR"
        return f"{kind}, samples={self.state.size}, gamma={self.gamma}"
