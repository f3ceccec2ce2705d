"""What loss modules share: a temperature (fixed or learnable), a similarity, a reduction."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from contrastor.engine.output import check_reduction
from contrastor.engine.similarity import check_similarity
from contrastor.engine.softmax import check_execution
from contrastor.engine.temperature import Temperature
from contrastor.scale.distributed import exchange_for


class TemperatureLoss(nn.Module):
    """Base of the loss modules: holds ``self.temperature`` (a :class:`Temperature`),
    ``self.similarity``, ``self.reduction`` and how the engine runs (``execution``:
    ``auto``/``dense``/``tiled``, ``tile_size``, and ``gather_distributed``: under
    ``torch.distributed``, contrast local anchors with the batches of all ranks, see
    :mod:`contrastor.scale.distributed`); the learnable temperature is a parameter of
    the module, so it trains with the model and lands in its ``state_dict``.

    A subclass lists its own keyword options in ``defaults``; they are given to the
    constructor by name, kept as attributes, and returned by :meth:`options`."""

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        learnable_temperature: bool = False,
        temperature_range: tuple[float, float] = (0.01, 1.0),
        similarity: str = "cosine",
        reduction: str = "mean",
        execution: str = "auto",
        tile_size: int | None = None,
        gather_distributed: bool = False,
        **options: Any,
    ) -> None:
        super().__init__()
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected options {unknown}")
        for name, default in self.defaults.items():
            setattr(self, name, options.get(name, default))
        self.temperature = Temperature(temperature, learnable_temperature, *temperature_range)
        self.similarity = check_similarity(similarity)
        self.reduction = check_reduction(reduction)
        check_execution(execution)
        self.execution, self.tile_size = execution, tile_size
        self.gather_distributed = gather_distributed

    def options(self) -> dict[str, Any]:
        """The loss's own keyword options (``defaults`` with their current values)."""
        return {name: getattr(self, name) for name in self.defaults}

    def run_options(self) -> dict[str, Any]:
        """How the engine runs: ``execution``, ``tile_size`` and the rank exchange."""
        return {
            "execution": self.execution,
            "tile_size": self.tile_size,
            "exchange": exchange_for(self.gather_distributed),
        }

    def extra_repr(self) -> str:
        return f"similarity={self.similarity!r}, reduction={self.reduction!r}"
