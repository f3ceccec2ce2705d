"""SigLIP loss module with learnable temperature and bias."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from contrastor.functional.siglip import siglip
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["SigLIP"]


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
        options=lambda task: {
            "temperature": 0.1,
            "learnable_temperature": True,
            "bias": -math.log(task.batch_size),
            "gather_distributed": task.distributed,
        },
        function=siglip,
    ),
)
class SigLIP(TemperatureLoss):
    """Pairwise sigmoid loss with learnable temperature and bias (see
    :func:`contrastor.functional.siglip`): ``L_i = -sum_j log sigma(y_ij (s_ij/tau + b))``.

    The paper's initialisation is the default: ``1/tau = 10``, ``b = -10``. DDP: local queries
    against gathered references. Zhai et al., "Sigmoid Loss for Language Image
    Pre-Training", ICCV 2023.

    Inputs: two ``(n, d)`` batches of paired embeddings; optional ``labels`` (call time).
    Positives: the index-aligned pair (or equal labels); every pair is its own binary
    decision, so no softmax couples the batch.
    Settings: learnable ``1/tau`` init 10 and bias init -10 (the paper's, for its batch of
    32k: ``-log n`` puts every pair's initial probability near the prior ``1/n`` of being
    the positive, so the image task starts it at ``-log(batch size)``).
    Related: :class:`CLIPLoss` (softmax), :class:`MannWhitney`.

    Example:
        >>> loss_fn = SigLIP()                 # learnable tau and bias
        >>> loss = loss_fn(image_emb, text_emb)
    """

    function = staticmethod(siglip)
    defaults: ClassVar[dict[str, Any]] = {"bias": -10.0}
    settings: ClassVar[dict[str, Any]] = {
        "learnable_temperature": True,
        "temperature_range": (1e-3, 1.0),
    }

    def __init__(self, temperature: float | None = None, bias: float = -10.0, **kwargs: Any):
        """The bias is learnable with the temperature (``learnable_temperature``, default
        True), else a buffer; both land in the ``state_dict``."""
        super().__init__(temperature, bias=bias, **kwargs)
        value = torch.tensor(float(bias))
        del self.bias  # the option's plain value, replaced by a tensor of the module
        if self.temperature.learnable:
            self.bias = nn.Parameter(value)
        else:
            self.register_buffer("bias", value)
