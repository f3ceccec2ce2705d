"""Clusters and prototypes: k-means and Sinkhorn-Knopp assignments, and the losses built on
them, ProtoNCE (prototypes from clustering the data) and SwAV (learned prototypes with
swapped, equipartitioned codes), plus prototype transport to a query set (OpTA)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels, check_positive
from contrastor.engine.output import ContrastiveOutput, weighted_sum
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.engine.targets import ClusterWeights
from contrastor.engine.views import stack_views
from contrastor.functional._common import finish
from contrastor.functional.infonce import info_nce

__all__ = [
    "StagedClusters",
    "cluster_concentration",
    "kmeans",
    "proto_nce",
    "sinkhorn_knopp",
    "swav",
    "transport_prototypes",
]


def kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """``k`` starting centres drawn by k-means++ (each next one with probability
    proportional to the squared distance to the nearest chosen one)."""
    centres = x[torch.randint(0, x.shape[0], (1,), generator=generator)]
    while centres.shape[0] < k:
        d2 = torch.cdist(x, centres).min(1).values ** 2
        pick = torch.multinomial(d2 / d2.sum() + 1e-12, 1, generator=generator)
        centres = torch.cat([centres, x[pick]])
    return centres


@torch.no_grad()
def kmeans(
    features: Tensor,
    k: int,
    *,
    iterations: int = 20,
    spherical: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means from a k-means++ start: ``(centroids (k, d), assignments (n,))``.
    ``spherical``: rows and centroids are unit vectors and points go to the centroid of
    highest cosine (the clustering of L2-normalised features in PCL and SwAV); an emptied
    cluster keeps its centre."""
    check_embeddings(features, "features")
    n = features.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    x = features.detach().double().cpu()
    if spherical:
        x = F.normalize(x, dim=1)
    centres = kmeans_plus_plus(x, k, generator)
    assign = torch.zeros(n, dtype=torch.long)
    for _ in range(iterations):
        assign = (x @ centres.T).argmax(1) if spherical else torch.cdist(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        moved = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
        centres = F.normalize(moved, dim=1) if spherical else moved
    return centres.to(features), assign.to(features.device)


@torch.no_grad()
def cluster_concentration(
    features: Tensor,
    centroids: Tensor,
    assignments: Tensor,
    *,
    alpha: float = 10.0,
    temperature: float = 0.1,
) -> Tensor:
    """PCL's per-cluster concentration (a temperature per prototype):
    ``phi_c = sum_{z in c} |z - mu_c| / (|c| log(|c| + alpha))``; a cluster of one point takes
    the largest value of the others; then the values are clipped to their 10th-90th
    percentiles and scaled to mean ``temperature``. Li et al., "Prototypical Contrastive
    Learning of Unsupervised Representations", ICLR 2021 (alpha 10)."""
    check_embeddings(features, "features")
    k = centroids.shape[0]
    z = F.normalize(features.detach().double(), dim=1).cpu()
    mu, assign = centroids.detach().double().cpu(), assignments.cpu()
    distance = (z - mu[assign]).norm(dim=1)
    sums = torch.zeros(k, dtype=torch.float64).index_add_(0, assign, distance)
    counts = torch.bincount(assign, minlength=k).double()
    phi = sums / (counts * torch.log(counts + alpha)).clamp_min(1e-12)
    several = counts > 1
    fill = phi[several].max() if bool(several.any()) else torch.tensor(temperature)
    phi = torch.where(several, phi, fill)
    low, high = torch.quantile(phi, 0.1), torch.quantile(phi, 0.9)
    phi = phi.clamp(low, high)
    return (temperature * phi / phi.mean()).to(centroids)


@full_precision
def proto_nce(
    query: Tensor,
    clusterings: Sequence[tuple[Tensor, Tensor, Tensor]],
    *,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """ProtoNCE, the prototype term of Prototypical Contrastive Learning: for each of M
    clusterings (``(centroids (k, d), assignments (n,) of this batch, concentration (k,))``)

        L_i = 1/M sum_m -log( exp(z_i . mu_s / phi_s) / sum_j exp(z_i . mu_j / phi_j) )

    with ``s`` the sample's cluster, ``z`` and ``mu`` unit vectors and ``phi`` a
    temperature per prototype (:func:`cluster_concentration`, InfoNCE's
    ``reference_temperature``), every prototype compared (PCL samples some of them). Add it
    to an InfoNCE term, as PCL does. Li et al., ICLR 2021.

    Example:
        >>> mu, assign = kmeans(all_features, 100)
        >>> phi = cluster_concentration(all_features, mu, assign)
        >>> loss = info_nce(q, k) + proto_nce(q, [(mu, assign[index], phi)])
    """
    check_embeddings(query, "query")
    if not clusterings:
        raise ValueError("give at least one clustering (centroids, assignments, concentration)")
    n = query.shape[0]
    z = unit_rows(query.to(compute_dtype(query.dtype)))
    outputs = []
    for centroids, assignments, concentration in clusterings:
        k = centroids.shape[0]
        check_labels(assignments, n, "assignments")
        if concentration.shape != (k,) or not bool((concentration > 0).all()):
            raise ValueError(f"concentration must be ({k},) positive temperatures")
        outputs.append(
            info_nce(
                z,
                centroids.to(z),
                labels=assignments,
                reference_labels=torch.arange(k, device=assignments.device),
                temperature=1.0,
                reference_temperature=concentration.to(z),
                reduction="none",
                return_output=True,
            )
        )
    return finish(weighted_sum(outputs), reduction, weights, return_output)


@torch.no_grad()
def sinkhorn_knopp(scores: Tensor, *, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Soft assignments ``Q`` ``(B, K)`` of B samples to K prototypes from ``exp(scores /
    epsilon)``, alternately rescaled so that every prototype receives ``B / K`` of the mass
    and every sample 1 (the equipartition of SwAV; each row of the result sums to 1).
    Cuturi, "Sinkhorn Distances", NeurIPS 2013; Caron et al., SwAV, NeurIPS 2020."""
    check_positive(epsilon, "epsilon")
    logits = scores.detach().double() / epsilon
    q = torch.exp(logits - logits.max()).T  # (K, B)
    q /= q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q /= q.sum(1, keepdim=True) * k
        q /= q.sum(0, keepdim=True) * b
    return (q * b).T.to(scores.dtype)


@full_precision
def swav(
    views: Tensor | Sequence[Tensor],
    prototypes: Tensor,
    *,
    temperature: float = 0.1,
    epsilon: float = 0.05,
    iterations: int = 3,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """SwAV: predict one view's prototype code from another view's scores. With unit
    features ``z``, unit prototypes ``C`` and codes ``q_t = SinkhornKnopp(z_t C^T)`` (no
    gradient), for every ordered pair of views ``s != t``:

        L_i = mean_{s != t} -sum_k q_t[i, k] log softmax_k( z_s[i] . C_k / tau )

    Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster
    Assignments", NeurIPS 2020 (tau 0.1, epsilon 0.05, 3 iterations). Codes equipartition
    the batch, so batches should be far larger than the number of prototypes (SwAV adds a
    feature queue for small batches; not included). Per-sample output ``(n,)``.

    Args:
        views: ``(n, V, d)`` or a list of V >= 2 ``(n, d)``; prototypes: ``(K, d)``.
    """
    stacked, n, count = stack_views(views, "views")
    if count < 2:
        raise ValueError("SwAV needs at least two views")
    check_embeddings(prototypes, "prototypes")
    if prototypes.shape[1] != stacked.shape[1]:
        raise ValueError("prototypes and features have different widths")
    dtype = compute_dtype(stacked.dtype)
    z = unit_rows(stacked.to(dtype)).reshape(count, n, -1)
    c = unit_rows(prototypes.to(dtype))
    scores = z @ c.T  # (V, n, K)
    codes = [
        sinkhorn_knopp(scores[v], epsilon=epsilon, iterations=iterations) for v in range(count)
    ]
    log_p = torch.log_softmax(scores / temperature, dim=-1)
    pairs = [(s, t) for s in range(count) for t in range(count) if s != t]
    per_anchor = torch.stack([-(codes[t] * log_p[s]).sum(-1) for s, t in pairs]).mean(0)
    output = ContrastiveOutput(per_anchor, torch.ones(n, dtype=torch.bool, device=z.device), {})
    return finish(output, reduction, weights, return_output)


@torch.no_grad()
def transport_prototypes(
    prototypes: Tensor,
    queries: Tensor,
    *,
    epsilon: float = 0.05,
    iterations: int = 50,
    steps: int = 3,
) -> Tensor:
    """Few-shot prototypes moved towards the query set by optimal transport (OpTA): the
    Sinkhorn plan between the ``N`` prototypes and the ``M`` queries (uniform masses, cosine
    affinity) maps each prototype to the barycentre of the queries it sends mass to; repeated
    ``steps`` times. This corrects the bias of prototypes estimated from few support samples.
    Poulakakis-Daktylidis & Jamali-Rad, "BECLR: Batch Enhanced Contrastive Few-Shot
    Learning", ICLR 2024."""
    check_embeddings(prototypes, "prototypes")
    check_embeddings(queries, "queries")
    if prototypes.shape[1] != queries.shape[1]:
        raise ValueError("prototypes and queries have different widths")
    p, q = prototypes.detach().double(), F.normalize(queries.detach().double(), dim=1)
    for _ in range(steps):
        plan = sinkhorn_knopp(
            q @ F.normalize(p, dim=1).T, epsilon=epsilon, iterations=iterations
        ).T  # (N, M): rows are prototypes
        p = plan @ queries.detach().double() / plan.sum(1, keepdim=True)
    return p.to(prototypes)


class StagedClusters:
    """Feature-aware negatives across training stages: after each stage the training set's
    embeddings (from that stage's encoder) are clustered, and during the next stage an
    anchor's negatives are the samples of its own cluster only, so features that already
    separate the clusters stop dominating and suppressed ones are learned. The final
    representation concatenates the stages' encoders. Zhang et al., "Learning the Unlearned:
    Mitigating Feature Suppression in Contrastive Learning", ECCV 2024.

    Example:
        >>> stages = StagedClusters(clusters=10)
        >>> stages.next_stage(embed_all(stage1_encoder))          # before stage 2
        >>> loss = info_nce(q, k, negative_weights=stages.negative_weights(index))
    """

    def __init__(self, clusters: int) -> None:
        if clusters < 1:
            raise ValueError(f"clusters must be at least 1, got {clusters}")
        self.clusters = clusters
        self.assignments: Tensor | None = None

    def next_stage(self, features: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Cluster the training set's embeddings of the stage that ended (in dataset order);
        returns the assignments."""
        _, self.assignments = kmeans(features, self.clusters, generator=generator)
        return self.assignments

    def negative_weights(
        self, index: Tensor, reference_index: Tensor | None = None
    ) -> ClusterWeights | None:
        """Weights of a batch's negatives (1 within the anchor's cluster, 0 across) for a
        softmax loss's ``negative_weights``; ``None`` in the first stage (every negative)."""
        if self.assignments is None:
            return None
        rows = self.assignments[index.to(self.assignments.device)]
        cols = (
            rows if reference_index is None else self.assignments[reference_index.to(rows.device)]
        )
        return ClusterWeights(rows, cols, same=1.0, other=0.0)
