"""Cross-modal objectives beyond CLIP: continuously weighted targets (CWCL), terms that close
the contrastive gap, higher-order contrast over three or more modalities (Symile) and one
item against K texts at once (1-to-K)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from contrastor._validation import check_embedding_list, check_embeddings, check_same_length
from contrastor.engine.output import ContrastiveOutput, check_reduction
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.engine.targets import ComparatorTargets
from contrastor.functional._common import check_pair, finish
from contrastor.functional.geometry import alignment, uniformity
from contrastor.functional.infonce import info_nce
from contrastor.scale.distributed import LOCAL, Exchange

__all__ = ["contrastive_gap", "cwcl", "one_to_k", "symile"]


def _half_cosine_plus_half(a: Tensor, b: Tensor) -> Tensor:
    return 0.5 * (1.0 + a @ b.T)


@full_precision
def cwcl(
    query: Tensor,
    reference: Tensor,
    *,
    guide: Tensor | None = None,
    temperature: float | Tensor = 0.07,
    symmetric: bool = True,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Continuously weighted contrastive loss: InfoNCE whose targets are the intra-modal
    similarities of a pretrained (frozen) modality instead of the identity.

        w_ij = (1 + cos(g_i, g_j)) / 2
        L_i  = -sum_j w_ij / (sum_k w_ik) * log softmax_j(s(q_i, r_j) / tau)

    (and the same from the references when ``symmetric``). ``guide`` ``(n, e)``: the frozen
    modality's embeddings of the pairs (default: ``reference``, detached, the CWCL setting
    where the references come from the frozen model). Every pair is a graded positive. The
    loss is lowest when the scores differ by ``tau * ln(w_ij / w_ik)``, and ``w`` only spans
    [0, 1]: at a CLIP-like ``tau`` (0.07) the queries end nearly equidistant from every
    reference, so CWCL needs a far higher one (1.0 chosen on validation in docs/losses.md).
    Guide cosines that crowd near one value make the target nearly uniform; passing the
    guide minus its mean spreads them.
    Srinivasa et al., "CWCL: Cross-Modal Transfer with Continuously Weighted Contrastive
    Loss", NeurIPS 2023. Tiled path: targets are computed block by block. DDP: one direction,
    local queries against the gathered references (guide gathered alongside).

    Example:
        >>> loss = cwcl(speech_encoder(x), text_model(t).detach(), temperature=0.05)
    """
    check_pair(query, reference)
    guide = reference if guide is None else guide
    check_embeddings(guide, "guide")
    check_same_length(query, guide, ("query", "guide"))
    g = unit_rows(guide.detach().to(compute_dtype(guide.dtype)))
    ex = exchange or LOCAL
    if symmetric and ex.world_size > 1:
        raise ValueError("CWCL across ranks is one-directional: pass symmetric=False")
    targets = ComparatorTargets(g, ex.gather(g), _half_cosine_plus_half)
    return info_nce(
        query,
        reference,
        temperature=temperature,
        symmetric=symmetric,
        targets=targets,
        similarity=similarity,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
        execution=execution,
        tile_size=tile_size,
        exchange=exchange,
    )


@full_precision
def contrastive_gap(
    query: Tensor,
    reference: Tensor,
    *,
    temperature: float | Tensor = 0.07,
    uniformity_weight: float = 1.0,
    alignment_weight: float = 1.0,
    uniformity_t: float = 2.0,
    joint_uniformity: bool = True,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_terms: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """CLIP loss plus uniformity and alignment terms that close the contrastive gap.

        L = L_CLIP + lambda_a * mean_i ||u_i - v_i||^2 + lambda_u * L_unif

    with ``L_unif = log mean_{i != j} exp(-t ||x_i - x_j||^2)`` over the embeddings of both
    modalities together (``joint_uniformity``) or the mean of each modality's. Embeddings are
    L2-normalised. Fahim, Murphy & Fyshe, "It's Not a Modality Gap: Characterizing and
    Addressing the Contrastive Gap", 2024. Reductions: ``mean`` or ``sum`` (uniformity is a
    property of the whole set, so there is no per-anchor form). DDP: CLIP and uniformity over
    the gathered batch, alignment over local pairs.

    Example:
        >>> loss, terms = contrastive_gap(img, txt, temperature=0.07, return_terms=True)
    """
    if check_reduction(reduction) == "none":
        raise ValueError("contrastive_gap has no per-anchor form: use mean or sum")
    check_same_length(query, reference, ("query", "reference"))
    run = {"execution": execution, "tile_size": tile_size, "exchange": exchange}
    clip = info_nce(
        query,
        reference,
        temperature=temperature,
        symmetric=True,
        weights=weights,
        reduction=reduction,
        **run,
    )
    align = alignment(query, reference, weights=weights, reduction=reduction, exchange=exchange)
    if joint_uniformity:
        unif = uniformity(torch.cat([query, reference]), t=uniformity_t, exchange=exchange)
    else:
        unif = 0.5 * (
            uniformity(query, t=uniformity_t, exchange=exchange)
            + uniformity(reference, t=uniformity_t, exchange=exchange)
        )
    loss = clip + alignment_weight * align + uniformity_weight * unif
    terms = {"clip": clip, "alignment": align, "uniformity": unif}
    return (loss, terms) if return_terms else loss


@full_precision
def symile(
    modalities: Sequence[Tensor],
    *,
    temperature: float | Tensor = 0.07,
    present: Tensor | None = None,
    missing: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Symile: contrast with the multilinear inner product of three or more modalities.

    With L2-normalised embeddings ``x^1 .. x^M`` and ``MIP(a, b, c) = sum_d a_d b_d c_d``, each
    modality m in turn is the target: the score of candidate j for sample i is
    ``MIP(x_i^k for k != m, x_j^m) / tau`` and

        L_{i,m} = -log softmax_j( MIP(x_i^{-m}, x_j^m) / tau )[i],   L_i = mean_m L_{i,m}

    (the product of the other modalities is one query vector, so each term is an InfoNCE with
    dot-product scores: tiled and DDP paths apply). Missing modalities: ``present`` ``(n, M)``
    bool marks what each sample has; a missing embedding is replaced by the normalised
    ``missing[m]`` (e.g. a learned vector per modality) and terms whose target modality is
    missing are left out. Saporta et al., "Contrasting with Symile: Simple
    Model-Agnostic Representation Learning for Unlimited Modalities", NeurIPS 2024.
    Per-sample output ``(n, M)``. DDP: local queries against the gathered candidates.

    Example:
        >>> loss = symile([image_emb, text_emb, audio_emb], temperature=0.05)
    """
    if len(modalities) < 3:
        raise ValueError(f"Symile needs at least three modalities, got {len(modalities)}")
    check_embedding_list(modalities, "modalities")
    n, count = modalities[0].shape[0], len(modalities)
    xs = [unit_rows(x.to(compute_dtype(x.dtype))) for x in modalities]
    if present is not None:
        if present.shape != (n, count) or present.dtype != torch.bool:
            raise ValueError(f"present must be a ({n}, {count}) bool tensor")
        if missing is None:
            raise ValueError("give the `missing` embeddings that replace absent modalities")
        if missing.shape != (count, xs[0].shape[1]):
            raise ValueError(f"missing must have shape ({count}, {xs[0].shape[1]})")
        fill = unit_rows(missing.to(xs[0]))
        xs = [torch.where(present[:, m : m + 1], x, fill[m].expand_as(x)) for m, x in enumerate(xs)]
    outputs = []
    for m in range(count):
        query = torch.stack([x for k, x in enumerate(xs) if k != m]).prod(0)
        outputs.append(
            info_nce(
                query,
                xs[m],
                temperature=temperature,
                similarity="dot",
                reduction="none",
                return_output=True,
                execution=execution,
                tile_size=tile_size,
                exchange=exchange,
            )
        )
    per_anchor = torch.stack([o.per_anchor for o in outputs], 1)
    mask = torch.ones_like(per_anchor, dtype=torch.bool)
    if present is not None:
        mask = present.clone()
        per_anchor = torch.where(mask, per_anchor, torch.zeros_like(per_anchor))
    terms = {name: torch.stack([o.terms[name] for o in outputs], 1) for name in outputs[0].terms}
    if weights is not None:
        weights = weights.reshape(-1, 1).expand(n, count)
    output = ContrastiveOutput(per_anchor, mask, terms)
    return finish(output, reduction, weights, return_output, exchange or LOCAL)


@full_precision
def one_to_k(
    items: Tensor,
    texts: Tensor,
    *,
    temperature: float | Tensor = 0.07,
    positive_mode: str = "out",
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """1-to-K contrastive loss: each item (an image) against the K texts of every item of the
    batch at once (one per language), so that no language is a pivot for the others:

        l^it_i  = -1/K sum_k log softmax_{(j, k')}( s(x_i, t_j^k') / tau )[(i, k)]
        l^ti_ik = -log softmax_j( s(t_i^k, x_j) / tau )[i]
        L_i     = 1/2 ( l^it_i + 1/K * 1/K sum_k l^ti_ik )

    over the n items and the n*K texts (``positive_mode="in"``: the K positives averaged
    inside the log instead). The 1/K on the text direction follows the authors' code, which
    divides the sum of both directions by K. Nie et al., "Improving the Consistency in
    Cross-Lingual Cross-Modal Retrieval with 1-to-K Contrastive Learning", KDD 2024; the
    rank consistency it targets is :func:`contrastor.eval.mean_rank_variance`. DDP: local
    anchors against all ranks' items and texts.

    Args:
        items: ``(n, d)``; texts: ``(n, K, d)``, text k of item i at ``texts[i, k]``.

    Example:
        >>> loss = one_to_k(image_emb, caption_emb)   # (n, d), (n, K, d)
    """
    check_embeddings(items, "items")
    check_embeddings(texts, "texts", ndim=3)
    n, k = texts.shape[0], texts.shape[1]
    if items.shape[0] != n or items.shape[1] != texts.shape[2]:
        raise ValueError(
            f"texts must have shape ({items.shape[0]}, K, {items.shape[1]}), "
            f"got {tuple(texts.shape)}"
        )
    ex = exchange or LOCAL
    ids = torch.arange(n, device=items.device) + ex.offset(n)
    flat, text_ids = texts.reshape(n * k, -1), ids.repeat_interleave(k)
    run = {
        "temperature": temperature,
        "similarity": similarity,
        "reduction": "none",
        "return_output": True,
        "execution": execution,
        "tile_size": tile_size,
        "exchange": exchange,
    }
    forward = info_nce(
        items, flat, labels=ids, reference_labels=text_ids, positive_mode=positive_mode, **run
    )
    backward = info_nce(flat, items, labels=text_ids, reference_labels=ids, **run)
    per_text = {name: value.reshape(n, k).mean(1) / k for name, value in backward.terms.items()}
    terms = {name: 0.5 * (forward.terms[name] + per_text[name]) for name in forward.terms}
    per_anchor = 0.5 * (forward.per_anchor + backward.per_anchor.reshape(n, k).mean(1) / k)
    output = ContrastiveOutput(per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), terms)
    return finish(output, reduction, weights, return_output, ex)
