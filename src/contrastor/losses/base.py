"""What loss modules share: a temperature (fixed or learnable), a similarity, a reduction."""

from __future__ import annotations

from torch import nn

from contrastor.engine.output import check_reduction
from contrastor.engine.similarity import check_similarity
from contrastor.engine.temperature import Temperature


class TemperatureLoss(nn.Module):
    """Base of the loss modules: holds ``self.temperature`` (a :class:`Temperature`),
    ``self.similarity`` and ``self.reduction``; the learnable temperature is a parameter of
    the module, so it trains with the model and lands in its ``state_dict``."""

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        learnable_temperature: bool = False,
        temperature_range: tuple[float, float] = (0.01, 1.0),
        similarity: str = "cosine",
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.temperature = Temperature(temperature, learnable_temperature, *temperature_range)
        self.similarity = check_similarity(similarity)
        self.reduction = check_reduction(reduction)

    def extra_repr(self) -> str:
        return f"similarity={self.similarity!r}, reduction={self.reduction!r}"
