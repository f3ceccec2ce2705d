"""SigLIP loss module with learnable temperature and bias."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.targets import Targets
from contrastor.functional.siglip import siglip
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, Task, register


def _siglip_options(task: Task) -> dict[str, Any]:
    return {
        "temperature": task.temperature,
        "learnable": task.learnable_temperature,
        "gather_distributed": task.distributed,
    }


@register(
    LossSpec(
        name="siglip",
        title="SigLIP",
        inputs="paired embeddings",
        positives="index-aligned pair (binary per pair)",
        paper="Zhai et al. 2023, Sigmoid Loss for Language Image Pre-Training",
        tiled=True,
        state="learnable temperature and bias",
        views=(2, 2),
        feed="pair",
        options=_siglip_options,
        function=siglip,
    ),
)
class SigLIP(TemperatureLoss):
    """Pairwise sigmoid loss with learnable temperature and bias (see
    :func:`contrastor.functional.siglip`): ``L_i = -sum_j log sigma(y_ij (s_ij/tau + b))``.

    The paper's initialisation is the default: ``1/tau = 10``, ``b = -10``. DDP: local queries
    against gathered references. Zhai et al., "Sigmoid Loss for Language Image
    Pre-Training", ICCV 2023.

    Example:
        >>> loss_fn = SigLIP()                 # learnable tau and bias
        >>> loss = loss_fn(image_emb, text_emb)
    """

    def __init__(
        self,
        temperature: float = 0.1,
        bias: float = -10.0,
        *,
        learnable: bool = True,
        temperature_range: tuple[float, float] = (1e-3, 1.0),
        similarity: str = "cosine",
        reduction: str = "mean",
        execution: str = "auto",
        tile_size: int | None = None,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(
            temperature,
            learnable_temperature=learnable,
            temperature_range=temperature_range,
            similarity=similarity,
            reduction=reduction,
            execution=execution,
            tile_size=tile_size,
            gather_distributed=gather_distributed,
        )
        value = torch.tensor(float(bias))
        if learnable:
            self.bias = nn.Parameter(value)
        else:
            self.register_buffer("bias", value)

    def forward(
        self,
        query: Tensor,
        reference: Tensor,
        *,
        labels: Tensor | None = None,
        reference_labels: Tensor | None = None,
        targets: Tensor | Targets | None = None,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        return siglip(
            query,
            reference,
            temperature=self.temperature(),
            bias=self.bias,
            labels=labels,
            reference_labels=reference_labels,
            targets=targets,
            similarity=self.similarity,
            weights=weights,
            reduction=self.reduction,
            return_output=return_output,
            **self.run_options(),
        )
