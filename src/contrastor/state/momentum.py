"""A momentum (exponential moving average) copy of an encoder: the key encoder of MoCo and
the target network of BYOL."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn


class MomentumEncoder(nn.Module):
    """``theta_k <- m * theta_k + (1 - m) * theta_q`` after every step; no gradient.

    Holds a frozen deep copy of ``online`` (saved in ``state_dict`` as ``target.*``); floating
    buffers (e.g. batch-norm statistics) follow the same average, others are copied.
    ``update(online, momentum)`` takes an optional per-step momentum; with ``total_steps``
    the momentum follows BYOL's schedule ``1 - (1 - m0) (cos(pi k / K) + 1) / 2`` from
    ``momentum`` to 1 over ``K = total_steps`` updates by itself (:meth:`cosine_momentum`;
    the update count ``k`` is a buffer, so it resumes with the run).

    Example:
        >>> key_encoder = MomentumEncoder(encoder, momentum=0.99)
        >>> k = key_encoder(x2)          # no gradient
        >>> key_encoder.update(encoder)  # after optimizer.step()
    """

    def __init__(
        self, online: nn.Module, momentum: float = 0.99, total_steps: int | None = None
    ) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        self.momentum, self.total_steps = momentum, total_steps
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.target = copy.deepcopy(online)
        for p in self.target.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, *args, **kwargs) -> Tensor:
        return self.target(*args, **kwargs)

    @torch.no_grad()
    def update(self, online: nn.Module, momentum: float | None = None) -> None:
        """Move the copy towards ``online``'s current weights."""
        if momentum is not None:
            m = momentum
        elif self.total_steps is not None:
            m = self.cosine_momentum(self.momentum, int(self.updates), self.total_steps)
        else:
            m = self.momentum
        self.updates += 1
        online_state = online.state_dict()
        for name, value in self.target.state_dict().items():
            source = online_state[name]
            if value.is_floating_point():
                value.mul_(m).add_(source.detach().to(value.dtype), alpha=1.0 - m)
            else:
                value.copy_(source)

    @staticmethod
    def cosine_momentum(base: float, step: int, total_steps: int) -> float:
        """BYOL's schedule: ``base`` at step 0 rising to 1 at ``total_steps``."""
        progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
        return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1) / 2

    def extra_repr(self) -> str:
        ramp = "" if self.total_steps is None else f" rising to 1 over {self.total_steps} steps"
        return f"momentum={self.momentum}{ramp}"
