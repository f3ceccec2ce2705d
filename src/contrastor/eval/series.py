"""The time-series classification protocol of the UCR/UEA literature: 1-nearest-neighbour
with Euclidean distance or dynamic time warping on the series, and an RBF SVM on frozen
representations with its C chosen by cross-validation on the training split."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels

DISTANCES = ("euclidean", "dtw")
#: the C grid of TS2Vec's SVM protocol (and a hard margin)
SVM_C = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e8)
#: cost-matrix cells per DTW chunk of pairs
_DTW_CELLS = 2**25


@torch.no_grad()
def nearest_neighbour_predict(
    train: Tensor,
    train_labels: Tensor,
    test: Tensor,
    *,
    distance: str = "euclidean",
    train_lengths: Tensor | None = None,
    test_lengths: Tensor | None = None,
) -> Tensor:
    """The label of each test sample's nearest training sample (1-nearest-neighbour).

    ``train``/``test``: ``(n, d)`` vectors, or ``(n, C, T)`` series zero-padded after their
    ``lengths``. ``euclidean`` compares the flattened inputs; ``dtw`` is dynamic time warping
    without a window between each pair's valid steps (cost: squared Euclidean distance of the
    C-channel steps). A tie goes to the first training sample.
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    ndim = 3 if distance == "dtw" else train.ndim
    check_embeddings(train, "train", ndim=ndim)
    check_embeddings(test, "test", ndim=ndim)
    if train.shape[1:] != test.shape[1:] and distance == "euclidean":
        raise ValueError(f"train and test shapes differ: {tuple(train.shape)}, {tuple(test.shape)}")
    check_labels(train_labels, train.shape[0], "train_labels")
    a, b = test.double(), train.double()
    if distance == "euclidean":
        d = torch.cdist(a.flatten(1), b.flatten(1))
    else:
        d = dtw_distances(a, b, test_lengths, train_lengths)
    return train_labels.long()[d.argmin(1)]


def nearest_neighbour_accuracy(
    train: Tensor, train_labels: Tensor, test: Tensor, test_labels: Tensor, **kwargs
) -> float:
    """Test accuracy of :func:`nearest_neighbour_predict` (same keyword options)."""
    check_labels(test_labels, test.shape[0], "test_labels")
    predicted = nearest_neighbour_predict(train, train_labels, test, **kwargs)
    return float((predicted == test_labels.long()).double().mean())


@torch.no_grad()
def leave_one_out_accuracy(x: Tensor, labels: Tensor) -> float:
    """Leave-one-out accuracy of the Euclidean 1-nearest-neighbour classifier on one labelled
    set (each sample classified by its nearest other sample; a tie goes to the first): the
    UCR archive's way to choose a setting on the training split alone."""
    check_embeddings(x, "x")
    check_labels(labels, x.shape[0], "labels")
    if x.shape[0] < 2:
        raise ValueError("leave_one_out_accuracy needs at least 2 samples")
    d = torch.cdist(x.double().flatten(1), x.double().flatten(1))
    d.fill_diagonal_(float("inf"))
    return float((labels.long()[d.argmin(1)] == labels.long()).double().mean())


def dtw_distances(
    a: Tensor, b: Tensor, a_lengths: Tensor | None = None, b_lengths: Tensor | None = None
) -> Tensor:
    """``(n, m)`` dynamic time warping distances (the square root of the cheapest warping
    path's summed squared step distances) between series ``a`` ``(n, C, T)`` and ``b``
    ``(m, C, U)``, each over its valid steps. Computed an anti-diagonal at a time for a chunk
    of pairs; cell ``(i, j)`` only reads cells ``(<= i, <= j)``, so padded steps never reach
    the cell read at a pair's lengths."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"series have {a.shape[1]} and {b.shape[1]} channels")
    n, m, t, u = a.shape[0], b.shape[0], a.shape[2], b.shape[2]
    la = torch.full((n,), t) if a_lengths is None else a_lengths.long().cpu()
    lb = torch.full((m,), u) if b_lengths is None else b_lengths.long().cpu()
    if bool((la < 1).any() | (lb < 1).any()):
        raise ValueError("every series needs at least one valid step")
    pairs = torch.cartesian_prod(torch.arange(n), torch.arange(m))
    out = torch.empty(n * m, dtype=a.dtype)
    step = max(1, _DTW_CELLS // (t * u))
    for start in range(0, len(pairs), step):
        i, j = pairs[start : start + step].T
        cost = torch.cdist(a[i].transpose(1, 2), b[j].transpose(1, 2)).square()
        out[start : start + step] = _warp(cost, la[i], lb[j])
    return out.sqrt().view(n, m)


def _warp(cost: Tensor, la: Tensor, lb: Tensor) -> Tensor:
    """Cheapest monotone path cost from cell ``(0, 0)`` to ``(la - 1, lb - 1)`` of each
    ``(T, U)`` cost matrix of ``cost`` ``(P, T, U)``, an anti-diagonal ``i + j = k`` at a
    time: ``D(i, j) = cost(i, j) + min(D(i - 1, j), D(i, j - 1), D(i - 1, j - 1))``. Each
    diagonal is held as an array indexed by the row ``i``, infinite outside the matrix."""
    p, t, u = cost.shape
    rows = torch.arange(t)
    wall = torch.full((p, 1), float("inf"), dtype=cost.dtype)
    before = last = torch.full((p, t), float("inf"), dtype=cost.dtype)
    result = torch.empty(p, dtype=cost.dtype)
    end = la + lb - 2
    for k in range(t + u - 1):
        cols = k - rows
        inside = (cols >= 0) & (cols < u)
        if k == 0:
            best = torch.zeros(p, 1, dtype=cost.dtype)
        else:
            up = torch.cat([wall, last[:, :-1]], 1)
            diagonal = torch.cat([wall, before[:, :-1]], 1)
            best = torch.minimum(torch.minimum(up, last), diagonal)[:, inside]
        here = torch.full((p, t), float("inf"), dtype=cost.dtype)
        here[:, inside] = cost[:, rows[inside], cols[inside]] + best
        done = end == k
        result[done] = here[done, la[done] - 1]
        before, last = last, here
    return result


def svm_predict(
    train: Tensor,
    train_labels: Tensor,
    test: Tensor,
    *,
    folds: int = 5,
    seed: int = 0,
    shuffle: bool = True,
) -> tuple[Tensor, float]:
    """Test predictions of an RBF SVM (``gamma="scale"``) on frozen representations, TS2Vec's
    protocol, and the C used: C from :data:`SVM_C` by ``folds``-fold stratified
    cross-validation on the training split (shuffled with ``seed``; ``shuffle=False``: the
    folds in training order, as the authors' code has them), or a hard margin when there are
    fewer than 5 training samples per class or fewer than 50 in all (too few to
    cross-validate). Needs scikit-learn."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    check_embeddings(train, "train")
    check_embeddings(test, "test")
    check_labels(train_labels, train.shape[0], "train_labels")
    x, y = train.double().numpy(), train_labels.long().numpy()
    classes = len(set(y.tolist()))
    if len(y) // classes < folds or len(y) < 50:
        model = SVC(C=SVM_C[-1], gamma="scale").fit(x, y)
        c = SVM_C[-1]
    else:
        split = StratifiedKFold(folds, shuffle=shuffle, random_state=seed if shuffle else None)
        search = GridSearchCV(SVC(gamma="scale"), {"C": list(SVM_C)}, cv=split).fit(x, y)
        model, c = search.best_estimator_, float(search.best_params_["C"])
    return torch.from_numpy(model.predict(test.double().numpy())).long(), c


def svm_accuracy(
    train: Tensor,
    train_labels: Tensor,
    test: Tensor,
    test_labels: Tensor,
    *,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Test accuracy of :func:`svm_predict` and the C it used."""
    check_labels(test_labels, test.shape[0], "test_labels")
    predicted, c = svm_predict(train, train_labels, test, folds=folds, seed=seed)
    return {"accuracy": float((predicted == test_labels.long()).double().mean()), "C": c}
