"""InfoNCE and CLIP loss modules."""

from __future__ import annotations

from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.targets import Targets
from contrastor.functional.infonce import info_nce
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register


@register(
    LossSpec(
        name="info_nce",
        title="InfoNCE",
        inputs="queries, references (+ queue, labels, soft targets)",
        positives="index-aligned, equal labels or soft",
        paper="Oord et al. 2018, Representation Learning with Contrastive Predictive Coding",
        tiled=True,
        views=(2, 2),
        feed="pair",
        function=info_nce,
    ),
)
class InfoNCE(TemperatureLoss):
    """InfoNCE between queries and references (see :func:`contrastor.functional.info_nce`).

    ``L_i = -log( exp(s(q_i, r_i)/tau) / sum_j exp(s(q_i, r_j)/tau) )``; ``symmetric=True``
    averages both directions (CLIP). Positives: index-aligned by default, or equal labels,
    multi-hot overlap, soft targets. DDP: local queries vs gathered references.
    Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018.

    Example:
        >>> loss_fn = InfoNCE(temperature=0.07, symmetric=True, learnable_temperature=True)
        >>> loss = loss_fn(image_emb, text_emb)          # (n, d), (n, d)
        >>> per_pair = InfoNCE(reduction="none")(q, r)   # (n,)
    """

    def __init__(
        self,
        temperature: float = 0.07,
        *,
        symmetric: bool = False,
        learnable_temperature: bool = False,
        temperature_range: tuple[float, float] = (0.01, 1.0),
        similarity: str = "cosine",
        decoupled: bool = False,
        reduction: str = "mean",
        execution: str = "auto",
        tile_size: int | None = None,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(
            temperature,
            learnable_temperature=learnable_temperature,
            temperature_range=temperature_range,
            similarity=similarity,
            reduction=reduction,
            execution=execution,
            tile_size=tile_size,
            gather_distributed=gather_distributed,
        )
        self.symmetric = symmetric
        self.decoupled = decoupled

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
        return info_nce(
            query,
            reference,
            temperature=self.temperature(),
            symmetric=self.symmetric,
            labels=labels,
            reference_labels=reference_labels,
            targets=targets,
            similarity=self.similarity,
            decoupled=self.decoupled,
            weights=weights,
            reduction=self.reduction,
            return_output=return_output,
            **self.run_options(),
        )


@register(
    LossSpec(
        name="clip",
        title="CLIP (symmetric InfoNCE)",
        inputs="paired embeddings of two modalities",
        positives="index-aligned pair",
        paper=(
            "Radford et al. 2021, Learning Transferable Visual Models From Natural Language "
            "Supervision"
        ),
        tiled=True,
        state="learnable temperature",
        views=(2, 2),
        feed="pair",
        function=info_nce,
    ),
)
class CLIPLoss(InfoNCE):
    """CLIP's symmetric InfoNCE with a learnable temperature (init 0.07, kept >= 0.01, i.e.
    logit scale <= 100). Radford et al., "Learning Transferable Visual Models From Natural
    Language Supervision", ICML 2021.

    Example:
        >>> loss = CLIPLoss()(image_emb, text_emb)
    """

    def __init__(
        self,
        temperature: float = 0.07,
        *,
        learnable_temperature: bool = True,
        temperature_range: tuple[float, float] = (0.01, 1.0),
        similarity: str = "cosine",
        reduction: str = "mean",
        execution: str = "auto",
        tile_size: int | None = None,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(
            temperature,
            symmetric=True,
            learnable_temperature=learnable_temperature,
            temperature_range=temperature_range,
            similarity=similarity,
            reduction=reduction,
            execution=execution,
            tile_size=tile_size,
            gather_distributed=gather_distributed,
        )
