"""MoCo: queries against their momentum keys and a queue of past keys, optionally with
synthetic hard negatives (MoCHi)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.targets import LabelTargets
from contrastor.functional._common import finish
from contrastor.functional.infonce import info_nce
from contrastor.functional.mixing import mix_hard_negatives
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, Task, register
from contrastor.state.queue import FeatureQueue

__all__ = ["MoCo"]


def _queue_options(task: Task) -> dict[str, Any]:
    return {
        **task.tempered(),
        "queue_size": min(1024, task.dataset_size),
        "dim": task.embedding_dim,
    }


@register(
    LossSpec(
        name="moco",
        title="MoCo (momentum keys + queue)",
        inputs="queries, momentum keys",
        positives="the key of the same sample",
        paper=(
            "He et al. 2020, Momentum Contrast for Unsupervised Visual Representation Learning; "
            "Izacard et al. 2022, Unsupervised Dense Information Retrieval with Contrastive "
            "Learning"
        ),
        tiled=True,
        ddp="gathered keys; same queue on every rank",
        state="momentum encoder, queue",
        views=(2, 2),
        feed="momentum_keys",
        options=_queue_options,
        target=True,
    ),
    LossSpec(
        name="mochi",
        title="MoCHi (hard negative mixing)",
        inputs="queries, momentum keys",
        positives="the key; synthetic negatives mixed from the hardest queue entries",
        paper="Kalantidis et al. 2020, Hard Negative Mixing for Contrastive Learning",
        tiled=True,
        ddp="gathered keys; same queue on every rank",
        state="momentum encoder, queue",
        views=(2, 2),
        feed="momentum_keys",
        options=_queue_options,
        variant={"mixing": {"hardest": 128, "mixed": 32, "query_mixed": 16}},
        target=True,
        function=mix_hard_negatives,
    ),
)
class MoCo(TemperatureLoss):
    """InfoNCE of queries against ``[keys of all ranks, queue]``, then the keys are enqueued.

        L_i = -log( e^{q_i.k_i/tau} / (sum_j e^{q_i.k_j/tau} + sum_{u in queue} e^{q_i.u/tau}) )

    ``keys`` come from a momentum encoder (:class:`~contrastor.state.MomentumEncoder`) and get
    no gradient. With ``mixing`` (``{"hardest": N, "mixed": s, "query_mixed": s'}``) each
    query also gets synthetic hard negatives mixed from its hardest queue entries
    (:func:`~contrastor.functional.mix_hard_negatives`). The queue lives in the module's
    ``state_dict``; under DDP (``gather_distributed``) keys of all ranks are negatives and all
    ranks enqueue the same keys.

    He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020;
    Izacard et al., "Unsupervised Dense Information Retrieval with Contrastive Learning"
    (Contriever), TMLR 2022; Kalantidis et al., "Hard Negative Mixing for Contrastive
    Learning", NeurIPS 2020.

    Inputs: ``query`` ``(n, dim)`` from the encoder, ``keys`` ``(n, dim)`` from its momentum
    copy (another view of the same samples).
    Positives: the key of the same sample; the queue and the other keys are negatives.
    Settings: MoCo v2: temperature 0.2, ``queue_size`` 65,536, key-encoder momentum 0.999;
    Contriever (text) uses a lower temperature (0.05).
    Related: :class:`InfoNCE`, :class:`GlobalContrastive`, :class:`PredictiveCosine` (BYOL).

    Example:
        >>> moco = MoCo(0.2, queue_size=4096, dim=128)
        >>> loss = moco(encoder(x1), key_encoder(x2))
        >>> key_encoder.update(encoder)   # after the optimizer step
    """

    def __init__(
        self,
        temperature: float = 0.2,
        *,
        queue_size: int = 4096,
        dim: int = 128,
        mixing: dict[str, int] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(temperature, **kwargs)
        self.queue = FeatureQueue(queue_size, dim)
        self.mixing = dict(mixing) if mixing else None

    @full_precision
    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        *,
        weights: Tensor | None = None,
        return_output: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor | ContrastiveOutput:
        if keys.ndim != 2 or keys.shape[-1] != self.queue.dim:
            raise ValueError(
                f"keys must have shape (n, {self.queue.dim}) (the queue's width, MoCo(dim=...)), "
                f"got {tuple(keys.shape)}"
            )
        run = self.run_options()
        ex = run.pop("exchange")
        keys = keys.detach()
        everyone = ex.gather(keys)
        queued = self.queue.features_in_use().to(keys.dtype)
        references = torch.cat([everyone, queued])
        n = query.shape[0]
        extra = None
        if self.mixing and queued.shape[0] > 0:
            extra = mix_hard_negatives(query, queued, generator=generator, **self.mixing)
        output = info_nce(
            query,
            references,
            temperature=self.temperature.argument(),
            targets=LabelTargets.aligned(n, references.shape[0], query.device, ex.offset(n)),
            anchor_negatives=extra,
            similarity=self.similarity,
            reduction="none",
            return_output=True,
            **run,
        )
        if self.training:
            self.queue.enqueue(keys, exchange=ex)
        return finish(output, self.reduction, weights, return_output, ex)
