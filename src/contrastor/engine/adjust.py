"""Adjustments of the softmax objective, applied block by block on both execution paths.

With positives ``P`` (:mod:`contrastor.engine.targets`) and logits ``l_ij = s_ij / tau_i``,
an :class:`Adjust` changes the objective of :mod:`contrastor.engine.softmax` as follows:

- ``negative_weights`` ``w_ij >= 0`` (any :class:`~contrastor.engine.targets.Targets`, read
  only off the positives): a negative enters the denominator as ``w_ij exp(l_ij)``, and
  ``w_ij = 0`` leaves it out. Cluster-aware down-weighting ("Heterogeneous Graph
  Contrastive Learning with Meta-path Contexts and Adaptively Weighted Negative Samples";
  "Graph Communal Contrastive Learning", WWW 2022), negatives restricted to an anchor's
  cluster ("Learning the Unlearned: Mitigating Feature Suppression in Contrastive
  Learning", ECCV 2024), per-language or same-source weights.
- ``margin`` ``m`` (a float, or per-pair ``m_ij`` as a ``Targets``): every positive's logit
  is ``(s_ij - m_ij) / tau_i``, in the numerator and the denominator (additive margin,
  CosFace, Wang et al., CVPR 2018; margins to semantic anchors, "FedSA: A Unified
  Representation Learning via Semantic Anchors for Prototype-based Federated Learning";
  graded margins, "Dynamic Contrastive Learning for Hierarchical Retrieval").
- ``top_k``: the denominator keeps the positives and the ``k`` largest negative terms of
  each anchor (the hard contrastive loss of Wang & Liu, "Understanding the Behaviour of
  Contrastive Loss", CVPR 2021); ties at the k-th value are all kept. The selection costs
  one more pass over the score blocks in the forward pass (memory ``n x k``).
- ``positive_mode="in"``: several positives enter inside the logarithm,
  ``-log sum_j Pn_ij exp(l_ij)`` instead of the average ``-sum_j Pn_ij l_ij`` ("out"),
  SupCon's ``L_in`` (Khosla et al., NeurIPS 2020) and the 1-to-K loss ("Improving the
  Consistency in Cross-Lingual Cross-Modal Retrieval with 1-to-K Contrastive Learning").
- ``smoothing`` ``eps``: label smoothing of the target distribution,
  ``(1 - eps) Pn_i + eps * uniform(D_i)`` over the anchor's denominator ``D_i`` (the
  improved CLIP recipe, Fini et al., "Improved baselines for vision-language
  pre-training", TMLR 2023).

Gradients stay exact: margins and weights shift logits by constants (a margin's share of
``d/d(1/tau)`` is added back), the top-k selection and the exclusions are masks, as in the
rest of the kernel.

Across ranks (a loss's ``gather_distributed``), the local queries meet the references of
every rank: weight and margin matrices are given against that gathered width, the top-k
negatives are the hardest among all ranks' references, and the result equals the
single-process loss of the concatenated batch for each local anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

from contrastor.engine.targets import Targets

POSITIVE_MODES = ("out", "in")


@dataclass(frozen=True)
class Adjust:
    """The adjustments of one softmax call (see the module docstring); the default changes
    nothing."""

    negative_weights: Targets | None = None
    margin: float | Targets | None = None
    top_k: int | None = None
    positive_mode: str = "out"
    smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.positive_mode not in POSITIVE_MODES:
            raise ValueError(
                f"positive_mode must be one of {POSITIVE_MODES}, got {self.positive_mode!r}"
            )
        if self.top_k is not None and (isinstance(self.top_k, bool) or self.top_k < 1):
            raise ValueError(f"top_k must be a positive number of negatives, got {self.top_k}")
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if self.smoothing and self.positive_mode == "in":
            raise ValueError("label smoothing is defined for positive_mode='out' only")
        if isinstance(self.margin, float | int) and not -1e6 < float(self.margin) < 1e6:
            raise ValueError(f"margin must be a finite number, got {self.margin}")

    @property
    def active(self) -> bool:
        """Whether anything is adjusted."""
        return self != NO_ADJUST

    @property
    def shifts_logits(self) -> bool:
        """Whether logits are moved (weights or margins), so no bound on them is known."""
        return self.negative_weights is not None or self.margin is not None

    def check_shape(self, shape: tuple[int, int]) -> None:
        for name in ("negative_weights", "margin"):
            part = getattr(self, name)
            if isinstance(part, Targets) and tuple(part.shape) != tuple(shape):
                raise ValueError(f"{name} have shape {part.shape} but the batch needs {shape}")

    def transpose(self) -> Adjust:
        """The same adjustments seen from the references (the reverse direction)."""

        def flip(part: object) -> object:
            return part.transpose() if isinstance(part, Targets) else part

        return Adjust(
            flip(self.negative_weights),
            flip(self.margin),
            self.top_k,
            self.positive_mode,
            self.smoothing,
        )


NO_ADJUST = Adjust()
