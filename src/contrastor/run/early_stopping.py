"""Early stopping on a validation score, as a module so that it is checkpointed with the run
and a resumed run stops (and restores) exactly as an uninterrupted one."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class EarlyStopping(nn.Module):
    """Scores ``model`` with ``score()`` (higher is better, e.g. validation Recall@20) every
    ``every`` epochs and at ``last_epoch`` (the run's end), keeps a copy of its best
    weights, and asks the loop to stop after ``patience`` scorings without an improvement of
    more than ``min_delta`` (``patience=0``: never stop early, only keep the best). Hand it
    to the loop as a module and call :meth:`end_epoch` at every epoch's end
    (``fit(..., end_epoch=stopper.end_epoch)``); after training, :meth:`restore` loads the
    best weights into ``model``.

    Example:
        >>> stopper = EarlyStopping(model, lambda: validation_recall(model), every=5)
        >>> fit({"model": model, "stopper": stopper}, ..., end_epoch=stopper.end_epoch)
        >>> stopper.restore()
    """

    def __init__(
        self,
        model: nn.Module,
        score: Callable[[], float],
        *,
        every: int = 1,
        patience: int = 5,
        min_delta: float = 0.0,
        last_epoch: int | None = None,
    ) -> None:
        super().__init__()
        if every < 1 or patience < 0 or min_delta < 0:
            raise ValueError("need every >= 1, patience >= 0 and min_delta >= 0")
        self.score, self.every, self.patience, self.min_delta = score, every, patience, min_delta
        self.last_epoch = last_epoch
        self._watched = [model]  # not a submodule: its weights are checkpointed by the run
        self.register_buffer("best", torch.tensor(-torch.inf, dtype=torch.float64))
        self.register_buffer("best_epoch", torch.zeros((), dtype=torch.long))
        self.register_buffer("since", torch.zeros((), dtype=torch.long))
        for name, value in model.state_dict().items():
            self.register_buffer(_slot(name), value.detach().clone())

    @property
    def model(self) -> nn.Module:
        return self._watched[0]

    @torch.no_grad()
    def end_epoch(self, epoch: int) -> bool:
        """Score at every ``every``-th epoch and the last; True when the run should stop."""
        if epoch % self.every and epoch != self.last_epoch:
            return False
        value = float(self.score())
        if value > float(self.best) + self.min_delta:
            self.best.fill_(value)
            self.best_epoch.fill_(epoch)
            self.since.zero_()
            for name, weight in self.model.state_dict().items():
                getattr(self, _slot(name)).copy_(weight)
        else:
            self.since += 1
        return bool(self.patience and int(self.since) >= self.patience)

    @torch.no_grad()
    def restore(self) -> None:
        """Load the best weights seen into the model (no-op before the first scoring)."""
        if int(self.best_epoch) > 0:
            self.model.load_state_dict(
                {name: getattr(self, _slot(name)) for name in self.model.state_dict()}
            )

    def summary(self) -> dict[str, float]:
        """The best score and its epoch, for a run's notes."""
        return {"best": float(self.best), "best_epoch": int(self.best_epoch)}


def _slot(name: str) -> str:
    return "best_" + name.replace(".", "__")
