"""Temperature: fixed, or learnable and kept in a safe range.

Objectives use the inverse temperature 1/tau as a multiplier of the similarity. A learnable
temperature is parameterised smoothly inside ``[min, max]``:

    log tau = log tau_min + (log tau_max - log tau_min) * sigmoid(theta)

so it can never leave the range and never sticks at a boundary (a hard clamp would zero its
gradient there). CLIP's logit-scale cap of 100 is ``min=0.01``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from contrastor._validation import all_finite, check_positive, require


class Temperature(nn.Module):
    """Temperature tau; ``forward()`` returns it as a scalar tensor.

    Args:
        init: starting value of tau.
        learnable: learn tau by gradient (stored as an unconstrained parameter ``theta``).
        min, max: the range a learnable tau stays in.
    """

    def __init__(
        self, init: float = 0.07, learnable: bool = False, min: float = 0.01, max: float = 1.0
    ) -> None:
        super().__init__()
        check_positive(init, "temperature")
        self.learnable = learnable
        if learnable:
            check_positive(min, "temperature min")
            if not min < init < max:
                raise ValueError(
                    f"a learnable temperature needs min < init < max, got {min}, {init}, {max}"
                )
            self.log_min, self.log_max = math.log(min), math.log(max)
            frac = (math.log(init) - self.log_min) / (self.log_max - self.log_min)
            self.theta = nn.Parameter(torch.tensor(math.log(frac / (1.0 - frac))))
        else:
            self.register_buffer("tau", torch.tensor(float(init)))
            self.fixed = float(init)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        if not self.learnable:
            self.fixed = float(self.tau)

    def argument(self) -> float | Tensor:
        """tau as a loss function takes it: the Python number when fixed (exact in any
        dtype, no tensor op), the differentiable tensor when learnable."""
        return self() if self.learnable else self.fixed

    def forward(self) -> Tensor:
        if self.learnable:
            span = self.log_max - self.log_min
            return torch.exp(self.log_min + span * torch.sigmoid(self.theta))
        return self.tau

    @property
    def value(self) -> float:
        """Current tau as a Python float (for logging)."""
        return float(self.forward().detach())

    def extra_repr(self) -> str:
        kind = "learnable" if self.learnable else "fixed"
        return f"{kind}, tau={self.value:.4g}"


def inverse_temperature(temperature: float | Tensor, like: Tensor) -> Tensor:
    """1/tau as a tensor of ``like``'s dtype and device (keeps the autograd graph of a tensor
    tau); checks tau > 0. A 1-D tau gives one temperature per anchor."""
    if isinstance(temperature, Tensor):
        if temperature.ndim > 1:
            shape = tuple(temperature.shape)
            raise ValueError(f"temperature must be a scalar or one per anchor, got shape {shape}")
        valid = all_finite(temperature) & (temperature > 0).all()
        require((valid, "temperature must be positive and finite"))
        return 1.0 / temperature.to(like.dtype)
    check_positive(float(temperature), "temperature")
    return torch.tensor(1.0 / float(temperature), dtype=like.dtype, device=like.device)
