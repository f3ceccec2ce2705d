"""Label-structure-aware supervised contrast: graded positives from a label hierarchy,
SupCon summed over nested grouping levels (COMET), and subclass-balancing contrastive
learning (SBCL) with its subclass clustering."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels
from contrastor.engine.output import ContrastiveOutput, weighted_sum
from contrastor.engine.partition import log_partition
from contrastor.engine.precision import full_precision
from contrastor.engine.softmax import softmax_objective
from contrastor.engine.targets import ComparatorTargets, HierarchyTargets, LabelTargets
from contrastor.engine.temperature import inverse_temperature
from contrastor.functional._common import finish
from contrastor.functional._views import Views, view_batch
from contrastor.functional.clustering import kmeans_plus_plus
from contrastor.functional.supcon import supcon
from contrastor.scale.distributed import LOCAL, Exchange

__all__ = ["hierarchical_supcon", "multilevel_supcon", "sbcl", "subclass_labels"]


@full_precision
def hierarchical_supcon(
    features: Views,
    paths: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
) -> Tensor | ContrastiveOutput:
    """SupCon with graded positives from a label hierarchy (see
    :class:`~contrastor.engine.HierarchyTargets`): the positive weight of a pair is the share of
    hierarchy levels the two samples have in common from the root down, so closer relatives
    are pulled harder and samples with nothing in common are negatives.

        L_a = -sum_p w_ap l_ap / sum_p w_ap + log sum_{k != a} e^{l_ak}

    ``paths``: ``(n, L)`` integer ids of each sample's ancestors, top level first, leaf last.
    Motivated by Cai et al., "Hierarchical Pretraining for Biomedical Term Embeddings" (graded
    relatedness from a hierarchy). Tiled path: weights computed block by block. Single process
    (targets are sample-level).

    Example:
        >>> paths = torch.stack([family, genus, species], 1)
        >>> loss = hierarchical_supcon(z, paths, temperature=0.1)
    """
    check_labels(paths, paths.shape[0], "paths")
    return supcon(
        features,
        temperature=temperature,
        targets=HierarchyTargets(paths, paths),
        weights=weights,
        reduction=reduction,
        return_output=return_output,
        execution=execution,
        tile_size=tile_size,
    )


def _same_class_other_subclass(a: Tensor, b: Tensor) -> Tensor:
    return ((a[:, None, 0] == b[None, :, 0]) & (a[:, None, 1] != b[None, :, 1])).double()


@full_precision
def sbcl(
    features: Views,
    labels: Tensor,
    subclasses: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    class_temperature: float | Tensor = 0.1,
    class_weight: float = 1.0,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Subclass-balancing contrastive loss, the bi-granularity objective of SBCL.

    With subclass ids ``s`` (clusters inside each class, see :func:`subclass_labels`):

        L_a = SupCon_a(subclass labels, tau_1)
              + beta * [ -mean_{p: same class, other subclass} l2_ap
                         + log sum_{k not in a's subclass} e^{l2_ak} ]

    with ``l2 = s / tau_2``: an anchor is pulled to its own subclass more than to anything
    else, and to the other subclasses of its class more than to other classes' subclasses.
    Anchors whose class has a single subclass in the batch have no second term. Hou et al.,
    "Subclass-balancing Contrastive Learning for Long-tailed Recognition", ICCV 2023.
    ``features``: ``(n, V, d)``; ``labels``, ``subclasses``: ``(n,)``. Per-anchor output
    ``(n, V)``. DDP: local anchors against the gathered views, labels gathered alongside.

    Example:
        >>> sub = subclass_labels(all_features, all_labels, size=tail_class_size)
        >>> loss = sbcl(z, y, sub[index], temperature=0.1, class_temperature=0.2)
    """
    batch = view_batch(features, similarity="cosine", labels=labels, exchange=exchange)
    check_labels(subclasses, batch.n, "subclasses")
    ex, views, n = batch.exchange, batch.views, batch.n
    sub_rows = subclasses.to(batch.z.device).repeat(views)
    class_rows = batch.same_class.query_labels
    fine = LabelTargets(sub_rows, ex.gather(sub_rows))
    run = {"self_offset": batch.self_offset, "execution": execution, "tile_size": tile_size}
    inv_1 = inverse_temperature(temperature, batch.z)
    first = softmax_objective(batch.z, batch.everyone, inv_1, fine, **run)
    pairs = torch.stack([class_rows, sub_rows], 1)
    coarse = ComparatorTargets(pairs, ex.gather(pairs), _same_class_other_subclass)
    has_coarse = coarse.block(slice(0, pairs.shape[0]), slice(0, coarse.shape[1])).sum(1) > 0
    second = torch.zeros_like(first.per_anchor)
    if bool(has_coarse.any()):
        inv_2 = inverse_temperature(class_temperature, batch.z)
        positive = softmax_objective(batch.z, batch.everyone, inv_2, coarse, **run)
        others = log_partition(batch.z, batch.everyone, inv_2, exclude=fine, **run)
        value = positive.terms["positive"] + others
        second = torch.where(has_coarse, class_weight * value, torch.zeros_like(value))

    output = ContrastiveOutput(
        first.per_anchor + second,
        first.mask,
        {"subclass": first.per_anchor, "class": second},
    ).map(batch.per_sample)
    if weights is not None:
        weights = weights.reshape(-1, 1).expand(n, views)
    return finish(output, reduction, weights, return_output, ex)


@torch.no_grad()
@full_precision
def subclass_labels(
    features: Tensor,
    labels: Tensor,
    size: int,
    *,
    iterations: int = 20,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Split every class into ``round(n_c / size)`` subclasses (at least one) of nearly equal
    size: k-means on L2-normalised features (k-means++ start), each step assigning points to
    centroids greedily by distance with a capacity of ``ceil(n_c / k)`` per subclass.
    Returns ``(n,)`` subclass ids, unique across classes. SBCL's clustering step."""
    check_embeddings(features, "features")
    check_labels(labels, features.shape[0])
    if size < 1:
        raise ValueError(f"size must be a positive number of samples, got {size}")
    z = F.normalize(features.detach().double(), dim=1)
    out = torch.empty(z.shape[0], dtype=torch.long)
    next_id = 0
    for c in torch.unique(labels.cpu()):
        members = torch.nonzero(labels.cpu() == c).flatten()
        k = max(1, round(len(members) / size))
        out[members] = _balanced_kmeans(z[members.to(z.device)].cpu(), k, iterations, generator)
        out[members] += next_id
        next_id += k
    return out.to(labels.device)


def _balanced_kmeans(x: Tensor, k: int, iterations: int, generator) -> Tensor:
    n = x.shape[0]
    if k == 1:
        return torch.zeros(n, dtype=torch.long)
    centres = kmeans_plus_plus(x, k, generator)
    capacity = -(-n // k)
    assign = torch.zeros(n, dtype=torch.long)
    for _ in range(iterations):
        dist = torch.cdist(x, centres)
        order = torch.argsort(dist.flatten(), stable=True)
        assign.fill_(-1)
        room = torch.full((k,), capacity)
        left = n
        for flat in order.tolist():
            point, cluster = divmod(flat, k)
            if assign[point] < 0 and room[cluster] > 0:
                assign[point] = cluster
                room[cluster] -= 1
                left -= 1
                if left == 0:
                    break
        centres = torch.stack([x[assign == j].mean(0) for j in range(k)])
    return assign


@full_precision
def multilevel_supcon(
    features: Views,
    levels: Tensor,
    *,
    level_weights: Sequence[float] | None = None,
    temperature: float | Tensor = 0.1,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """SupCon at several levels of grouping at once: ``levels`` ``(n, L)`` gives each
    sample's group id per level (e.g. recording, trial, patient), and

        L = sum_l lambda_l SupCon(features, levels[:, l])

    so views of one recording, recordings of one trial and trials of one patient are all
    pulled together, each level at its weight. Wang et al., "Contrast Everything: A
    Hierarchical Contrastive Framework for Medical Time-Series" (COMET), NeurIPS 2023.
    Per-sample output: the weighted sum of the levels' per-anchor values (levels where a
    sample has no positive contribute 0).

    Args:
        features: ``(n, V, d)``, ``(n, d)`` or a list of views; levels: ``(n, L)`` ids.
        level_weights: one per level (default: equal, summing to 1).
    """
    if levels.ndim != 2 or levels.is_floating_point():
        raise ValueError("levels must be an (n, L) integer tensor of group ids")
    count = levels.shape[1]
    lam = [1.0 / count] * count if level_weights is None else list(level_weights)
    if len(lam) != count or any(w < 0 for w in lam):
        raise ValueError(f"give {count} non-negative level weights")
    run = {
        "temperature": temperature,
        "reduction": "none",
        "return_output": True,
        "execution": execution,
        "tile_size": tile_size,
        "exchange": exchange,
    }
    outputs = [supcon(features, levels[:, level], **run) for level in range(count)]
    output = weighted_sum(outputs, lam)
    n = output.per_anchor.shape[0]
    if weights is not None:
        weights = weights.reshape(n, 1).expand_as(output.per_anchor)
    return finish(output, reduction, weights, return_output, exchange or LOCAL)
