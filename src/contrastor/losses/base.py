"""What loss modules share: a temperature (fixed or learnable), a similarity, a reduction,
how the engine runs, and one ``forward`` that calls the loss's pure function."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from torch import nn

from contrastor.engine.output import check_reduction
from contrastor.engine.similarity import check_similarity
from contrastor.engine.softmax import check_execution
from contrastor.engine.temperature import Temperature
from contrastor.scale.distributed import exchange_for

__all__ = ["DeclaredLoss", "TemperatureLoss"]

#: the temperature settings of a loss whose class ``settings`` do not change them
_BASE: dict[str, Any] = {
    "temperature": 0.1,
    "learnable_temperature": False,
    "temperature_range": (0.01, 1.0),
}


class DeclaredLoss(nn.Module):
    """Base of the loss modules: a loss module is a declaration::

        class CWCL(TemperatureLoss):
            function = staticmethod(cwcl)        # its pure function
            defaults = {"symmetric": True}       # its own keyword options
            settings = {"temperature": 0.07}     # base constructor defaults it changes

    ``defaults`` are given to the constructor by name, kept as attributes and returned by
    :meth:`options`; ``settings`` may also change the default ``similarity``;
    ``forward(*inputs, **keywords)`` returns ``function(*inputs, **keywords)`` called with the
    options and those of the module's settings the function takes: ``similarity``,
    ``reduction`` and how the engine runs (``execution``: ``auto``/``dense``/``tiled``,
    ``tile_size``, and ``gather_distributed``: under ``torch.distributed``, contrast local
    anchors with the batches of all ranks, see :mod:`contrastor.scale.distributed`).
    """

    function: ClassVar[Callable[..., Any]]
    defaults: ClassVar[dict[str, Any]] = {}
    settings: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        *,
        similarity: str | None = None,
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
        self.similarity = check_similarity(similarity or self.settings.get("similarity", "cosine"))
        self.reduction = check_reduction(reduction)
        check_execution(execution)
        self.execution, self.tile_size = execution, tile_size
        self.gather_distributed = gather_distributed

    def forward(self, *inputs: Any, **keywords: Any) -> Any:
        """``function(*inputs, **keywords)`` with the module's options and settings (see the
        class docstring); ``keywords`` are the call's own (labels, targets, weights,
        ``return_output`` ...)."""
        return self.function(*inputs, **keywords, **self.call_options())

    def call_options(self) -> dict[str, Any]:
        """What the module adds to each call of its function."""
        accepted = keyword_names(self.function)
        settings = {k: v for k, v in self.current_settings().items() if k in accepted}
        return {**settings, **self.options()}

    def current_settings(self) -> dict[str, Any]:
        """The settings every loss module holds, as its function would take them."""
        return {"similarity": self.similarity, "reduction": self.reduction, **self.run_options()}

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


class TemperatureLoss(DeclaredLoss):
    """A declared loss with a temperature: ``self.temperature`` (a :class:`Temperature`,
    fixed or learnable; a learnable one is a parameter of the module, so it trains with the
    model and lands in its ``state_dict``), passed to the function as ``temperature``.
    ``settings`` holds the class's own defaults of the constructor's temperature arguments.
    """

    def __init__(
        self,
        temperature: float | None = None,
        *,
        learnable_temperature: bool | None = None,
        temperature_range: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> None:
        """``temperature``, ``learnable_temperature`` and ``temperature_range`` default to
        the class's ``settings`` (else 0.1, fixed, (0.01, 1.0)); ``kwargs`` are the
        settings and options of :class:`DeclaredLoss`."""
        super().__init__(**kwargs)
        given = {
            "temperature": temperature,
            "learnable_temperature": learnable_temperature,
            "temperature_range": temperature_range,
        }
        tau = {k: self.settings.get(k, _BASE[k]) if v is None else v for k, v in given.items()}
        self.temperature = Temperature(
            tau["temperature"], tau["learnable_temperature"], *tau["temperature_range"]
        )

    def current_settings(self) -> dict[str, Any]:
        return {"temperature": self.temperature.argument(), **super().current_settings()}


@functools.cache
def keyword_names(function: Callable[..., Any]) -> frozenset[str]:
    """Names of the keyword parameters of ``function`` (through ``functools.wraps``)."""
    return frozenset(inspect.signature(function).parameters)
