"""Training through noise: the per-sample strategy a run trains with (``--robust`` of the image
job, ``robust`` of the paired recipes), driven by a detector's clean probabilities."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from contrastor.noise.detect import LossHistory, gmm_clean_probability, knn_label_agreement
from contrastor.noise.strategies import clean_weights
from contrastor.scale.distributed import exchange_for

#: strategy -> (detector, how its clean probability becomes weights)
STRATEGIES = {
    "none": (None, None),
    "loss_weight": ("loss", "weight"),
    "loss_drop": ("loss", "drop"),
    "knn_weight": ("knn", "weight"),
    "knn_drop": ("knn", "drop"),
    "loss_unlabel": ("loss", "unlabel"),
    "knn_unlabel": ("knn", "unlabel"),
    "knn_margin_weight": ("knn_margin", "weight"),
    "knn_margin_drop": ("knn_margin", "drop"),
    "knn_margin_unlabel": ("knn_margin", "unlabel"),
}
#: the strategies that change labels, not weights (labelled losses only)
UNLABEL = tuple(name for name, (_, mode) in STRATEGIES.items() if mode == "unlabel")


class RobustTraining(nn.Module):
    """Per-sample weights for the loss from a detector, refreshed every epoch after
    ``warmup`` epochs: ``loss`` detectors fit a two-component mixture to each sample's mean
    loss so far (:class:`~contrastor.noise.LossHistory`), ``knn`` detectors use the label
    agreement of its ``neighbours`` nearest neighbours in the current embedding
    (``knn_margin``: its label's share minus the most common other label's, so 0.5 is
    where its label stops being the most common).
    ``*_unlabel`` strategies keep every sample in the loss but withhold the label of those
    below 0.5: each becomes a class of its own, a positive only of its own views, so a
    suspect label pulls no other sample (the confident pairs of Li et al.,
    "Selective-Supervised Contrastive Learning with Noisy Labels", CVPR 2022, with instance
    contrast for the rest). The history and the current clean probabilities are buffers,
    saved and restored with the run."""

    def __init__(
        self,
        strategy: str,
        size: int,
        warmup: int,
        distributed: bool = False,
        neighbours: int = 10,
    ) -> None:
        super().__init__()
        if strategy not in STRATEGIES or strategy == "none":
            raise ValueError(f"robust strategy must be one of {sorted(STRATEGIES)}")
        self.detector, self.mode = STRATEGIES[strategy]
        if neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {neighbours}")
        self.warmup, self.neighbours = warmup, neighbours
        self.distributed = distributed
        self.history = LossHistory(size)
        self.register_buffer("clean", torch.ones(size))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def refresh(
        self,
        epoch: int,
        embeddings: Callable[[], Tensor] | None = None,
        labels: Tensor | None = None,
    ) -> None:
        """Recompute the clean probabilities at the start of ``epoch`` (``knn`` detectors
        need the ``embeddings`` and ``labels``, ``loss`` detectors neither)."""
        self.epoch.fill_(epoch)
        if epoch < self.warmup:
            return
        if self.detector.startswith("knn"):
            if embeddings is None or labels is None:
                raise ValueError("a knn detector needs the embeddings and the labels")
            margin = self.detector == "knn_margin"
            self.clean.copy_(
                knn_label_agreement(embeddings(), labels.cpu(), k=self.neighbours, margin=margin)
            )
        else:
            mean = self.history.mean()
            seen = self.history.seen()
            if int(seen.sum()) < 2:
                return
            filled = torch.where(seen, mean, mean[seen].median())
            self.clean.copy_(gmm_clean_probability(filled))

    def weights(self, index: Tensor) -> Tensor:
        p = self.clean[index.to(self.clean.device)]
        if self.mode == "unlabel":
            return torch.ones_like(p)
        return clean_weights(p, epoch=int(self.epoch), warmup_epochs=self.warmup, mode=self.mode)

    def labels(self, index: Tensor, labels: Tensor) -> Tensor:
        """``labels`` of the samples at dataset ``index``, those an ``unlabel`` strategy
        suspects replaced by ``-1 - index`` (unique across ranks, below every class id)."""
        if self.mode != "unlabel" or int(self.epoch) < self.warmup:
            return labels
        suspect = (self.clean[index.to(self.clean.device)] < 0.5).to(labels.device)
        return torch.where(suspect, -1 - index.to(labels), labels)

    def observe(self, index: Tensor, per_anchor: Tensor) -> None:
        self.history.update(index.cpu(), per_anchor, exchange_for(self.distributed))

    def kept(self) -> Tensor | None:
        """The samples whose clean probability reaches 0.5 (what ``drop`` keeps), or ``None``
        before the strategy has started."""
        if int(self.epoch) < self.warmup:
            return None
        return clean_weights(self.clean, epoch=int(self.epoch), mode="drop").bool()


class CoDivide(nn.Module):
    """Two networks that divide the data for each other: each keeps the loss history of the
    samples it trains on, and the weights of network ``k`` come from the mixture fitted on the
    *other* network's history, so neither confirms its own mistakes (co-divide of Huang et al.,
    "Learning with Noisy Correspondence for Cross-modal Matching", NeurIPS 2021; DivideMix,
    Li et al., ICLR 2020). ``mode`` turns a clean probability into weights as in
    :func:`~contrastor.noise.clean_weights` (``"drop"``: below 0.5 left out).

    Example:
        >>> co = CoDivide(len(pairs), warmup=2)
        >>> co.refresh(epoch)                         # at the start of every epoch
        >>> w0, w1 = co.weights(0, index), co.weights(1, index)
        >>> co.observe(0, index, loss0_per_pair); co.observe(1, index, loss1_per_pair)
    """

    def __init__(
        self, size: int, warmup: int, mode: str = "drop", distributed: bool = False
    ) -> None:
        super().__init__()
        strategy = {"weight": "loss_weight", "drop": "loss_drop"}.get(mode)
        if strategy is None:
            raise ValueError(f"mode must be 'weight' or 'drop', got {mode!r}")
        self.nets = nn.ModuleList(
            RobustTraining(strategy, size, warmup, distributed) for _ in range(2)
        )

    def refresh(self, epoch: int) -> None:
        """Refit both networks' mixtures at the start of ``epoch`` (after the warm-up)."""
        for net in self.nets:
            net.refresh(epoch)

    def clean(self, net: int) -> Tensor:
        """The clean probabilities network ``net`` trains with: its peer's."""
        return self.nets[1 - net].clean

    def weights(self, net: int, index: Tensor) -> Tensor:
        """Per-sample loss weights of network ``net`` for the samples ``index``."""
        return self.nets[1 - net].weights(index)

    def observe(self, net: int, index: Tensor, per_anchor: Tensor) -> None:
        """Record network ``net``'s per-sample losses of the samples ``index``."""
        self.nets[net].observe(index, per_anchor)
