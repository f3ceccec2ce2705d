"""Duplicate-safe in-batch negatives: keys for texts, and labels that make repeated
documents or queries of a batch positives of each other instead of negatives.

With index-aligned pairs, a document that appears twice in a batch (or two pairs that share
a query) is a negative of a query it answers: a false negative that the loss pushes away.
:func:`duplicate_safe_labels` joins pairs that share a query or a document (transitively)
into one group and gives every member the group's label; InfoNCE with ``labels`` /
``reference_labels`` then treats the whole group as positives (averaged in the numerator, as
SupCon does), dense, tiled and across ranks (the labels are global: keys are gathered before
the groups are formed). No sample is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor

from contrastor.scale.distributed import exchange_for


def text_keys(texts: Sequence[str], normalize: bool = True) -> Tensor:
    """``(len(texts),)`` int64 keys, equal for equal texts on every process (a 64-bit
    BLAKE2 digest, not Python's salted ``hash``); ``normalize`` folds case and whitespace."""
    out = []
    for text in texts:
        if normalize:
            text = " ".join(text.split()).lower()
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
        out.append(int.from_bytes(digest, "little", signed=True))
    return torch.tensor(out, dtype=torch.long)


@torch.no_grad()
def duplicate_safe_labels(
    query_keys: Tensor,
    document_keys: Tensor,
    extra_keys: Tensor | None = None,
    *,
    gather_distributed: bool = False,
) -> tuple[Tensor, Tensor]:
    """Labels for ``info_nce(q, cat([docs, extras]), labels=..., reference_labels=...)``.

    Pair i (``query_keys[i]``, ``document_keys[i]``) and pair j are in one group when they
    share a query key or a document key, directly or through other pairs; every group's label
    is its smallest document key. An extra reference (a mined negative) gets the label of the
    group whose document it duplicates, else its own key.

    Args:
        query_keys, document_keys: ``(n,)`` int64 keys of this rank's pairs (:func:`text_keys`).
        extra_keys: ``(e,)`` keys of extra references appended after the documents.
        gather_distributed: form groups over all ranks' pairs (pass the same flag to the loss).

    Returns:
        ``(labels (n,), reference_labels (n + e,))`` on the keys' device.

    Example:
        >>> labels, ref_labels = duplicate_safe_labels(text_keys(queries), text_keys(docs))
        >>> loss = info_nce(q, d, labels=labels, reference_labels=ref_labels)
    """
    n = query_keys.shape[0]
    if query_keys.shape != (n,) or document_keys.shape != (n,):
        raise ValueError("query_keys and document_keys must both have shape (n,)")
    if extra_keys is not None and extra_keys.ndim != 1:
        raise ValueError("extra_keys must have shape (e,)")
    exchange = exchange_for(gather_distributed)
    device = query_keys.device
    queries = exchange.gather(query_keys.long()).cpu().tolist()
    documents = exchange.gather(document_keys.long()).cpu().tolist()
    parent = list(range(len(queries)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for keys in (queries, documents):
        first: dict[int, int] = {}
        for i, key in enumerate(keys):
            j = first.setdefault(key, i)
            parent[root(i)] = root(j)
    label_of_root: dict[int, int] = {}
    for i, doc in enumerate(documents):
        r = root(i)
        label_of_root[r] = min(label_of_root.get(r, doc), doc)
    labels = [label_of_root[root(i)] for i in range(len(documents))]
    group_of_doc = dict(zip(documents, labels, strict=True))
    start = exchange.offset(n)
    own = labels[start : start + n]
    extras = [] if extra_keys is None else extra_keys.long().cpu().tolist()
    reference = own + [group_of_doc.get(key, key) for key in extras]
    return (
        torch.tensor(own, dtype=torch.long, device=device),
        torch.tensor(reference, dtype=torch.long, device=device),
    )
