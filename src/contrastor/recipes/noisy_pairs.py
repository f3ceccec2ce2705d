"""Noisy correspondence in the paired recipes (``text``, ``crossmodal``): re-pair a share of
the training pairs at random to measure robustness against a known mask (``pair_noise``), and
train through mismatched pairs with a per-pair strategy from the loss history (``robust``).

The strategies weight each pair by its clean probability from a two-component mixture on
the pair's mean loss so far, refitted at the start of every epoch after the warm-up
(``loss_weight``), or leave out pairs below probability 0.5 (``loss_drop``) — the
clean/noisy split of Huang et al., "Learning with Noisy Correspondence for Cross-modal
Matching" (NeurIPS 2021), on the loss history of Arazo et al., "Unsupervised Label Noise
Modeling and Loss Correction" (ICML 2019)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from contrastor.engine import ContrastiveOutput
from contrastor.noise import PairCorruption, detection_report, shuffle_pairs
from contrastor.noise.training import RobustTraining
from contrastor.recipes.loop import Batches, Step, fit, shuffled_batches
from contrastor.run.loop import RunContext

#: the strategies that need only per-pair losses (no labels)
PAIR_STRATEGIES = ("none", "loss_weight", "loss_drop")


@dataclass
class PairNoiseOptions:
    """``pair_noise``: share of the training pairs re-paired at random before training, to
    measure robustness (0: the pairs as given); ``robust``: none, loss_weight or loss_drop;
    ``robust_warmup``: epochs of plain training before the strategy starts."""

    pair_noise: float = 0.0
    robust: str = "none"
    robust_warmup: int = 1

    def validate(self) -> None:
        if not 0.0 <= self.pair_noise < 1.0:
            raise ValueError(f"pair_noise must be in [0, 1), got {self.pair_noise}")
        if self.robust not in PAIR_STRATEGIES:
            raise ValueError(f"robust must be one of {list(PAIR_STRATEGIES)}, got {self.robust!r}")
        if self.robust_warmup < 0:
            raise ValueError(f"robust_warmup must be >= 0, got {self.robust_warmup}")

    def corruption(self, size: int, seed: int) -> PairCorruption:
        """The seeded re-pairing of ``size`` training pairs (identity when ``pair_noise`` is 0)."""
        return shuffle_pairs(size, self.pair_noise, generator=torch.Generator().manual_seed(seed))


Compute = Callable[..., Tensor | ContrastiveOutput]


class PairRobustness:
    """One training run's strategy: wraps the run's ``batches`` (to refit at every epoch) and
    its loss (to weight pairs and record their losses). Without a strategy both pass
    through."""

    def __init__(self, options: PairNoiseOptions, size: int, distributed: bool = False) -> None:
        self.robust = None
        if options.robust != "none":
            self.robust = RobustTraining(options.robust, size, options.robust_warmup, distributed)

    def modules(self) -> dict[str, nn.Module]:
        """The strategy's state (loss history, clean probabilities), to checkpoint."""
        return {} if self.robust is None else {"robust": self.robust}

    def batches(self, draw: Batches) -> Batches:
        robust = self.robust
        if robust is None:
            return draw

        def epoch(number: int, g: torch.Generator) -> list[Tensor]:
            robust.refresh(number)
            return draw(number, g)

        return epoch

    def loss(self, index: Tensor, compute: Compute) -> Tensor:
        """``compute(**kwargs)`` is the batch loss of the pairs ``index`` (this rank's share);
        with a strategy it is called with ``weights`` and ``return_output=True`` and its
        per-pair terms are recorded."""
        if self.robust is None:
            return compute()
        output = compute(weights=self.robust.weights(index), return_output=True)
        self.robust.observe(index, output.per_anchor.detach())
        return output.loss

    def fit(
        self,
        modules: dict[str, nn.Module],
        size: int,
        step: Step,
        options: Any,
        context: RunContext,
        label: str,
    ) -> list[dict[str, Any]]:
        """Train ``modules`` and the strategy's state on shuffled batches of the ``size``
        pairs with ``options``' epochs, batch size, learning rate and seed."""
        return fit(
            {**modules, **self.modules()},
            self.batches(shuffled_batches(size, options.batch_size)),
            step,
            epochs=options.epochs,
            lr=options.lr,
            seed=options.seed,
            context=context,
            label=label,
        )

    def note(self, name: str, corruption: PairCorruption) -> str | None:
        """How well the strategy's last clean probabilities find the re-paired pairs."""
        if self.robust is None or not bool(corruption.noisy.any()):
            return None
        found = detection_report(self.robust.clean.cpu(), corruption.noisy)
        return (
            f"{name}: its detector finds the re-paired pairs with AUROC {found['auroc']:.3f},"
            f" precision {found['precision']:.3f} at the true noise rate (last refit)."
        )


def noise_note(corruption: PairCorruption) -> str | None:
    noisy = int(corruption.noisy.sum())
    if noisy == 0:
        return None
    return f"{noisy} of {len(corruption.noisy)} training pairs re-paired at random (pair_noise)."
