"""Input checks shared by losses and metrics: each failure is a ``ValueError`` naming it.

Checks that read tensor values (NaN/inf, "no positive in this batch", weights) force a
host-device sync each; a loss call costs a fixed number of them, never one per tile. For
compiled or production runs they can be switched off with :func:`set_validation` or the
:func:`validation` context, and they are skipped while ``torch.compile`` traces (shape and
type checks always run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

_enabled = True
#: flags of the loss call in progress, read together when it ends (None: outside a call)
_pending: list[tuple[Tensor, str]] | None = None
#: state updates of that call, run once its flags pass
_updates: list[Callable[[], None]] | None = None


def set_validation(enabled: bool) -> None:
    """Turn the value checks of every loss on or off (on by default)."""
    global _enabled
    _enabled = bool(enabled)


@contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """``with validation(False):`` runs the block without value checks."""
    previous = _enabled
    set_validation(enabled)
    try:
        yield
    finally:
        set_validation(previous)


def validating() -> bool:
    """Whether value checks run now: switched on and not inside ``torch.compile`` tracing."""
    return _enabled and not torch.compiler.is_compiling()


def all_finite(x: Tensor) -> Tensor:
    """0-d bool: whether every value of ``x`` is finite (``x * 0`` is 0 exactly for finite
    values and NaN otherwise; one multiply and a sum, several times cheaper than
    ``isfinite(x).all()``)."""
    return (x * 0).sum() == 0


def finite_nonnegative(x: Tensor) -> Tensor:
    """0-d bool: whether every value of ``x`` is finite and >= 0."""
    return all_finite(x) & ~(x < 0).any()


def require(*conditions: tuple[Tensor, str]) -> None:
    """Raise ``ValueError(message)`` for the first ``(flag, message)`` whose 0-d bool tensor is
    False (nothing when validation is off). Inside :func:`deferred_checks` the flags wait for
    the end of the block; elsewhere they are read at once, with one host-device sync."""
    if not conditions or not validating():
        return
    if _pending is not None:
        _pending.extend(conditions)
        return
    _raise_failed(list(conditions))


def _raise_failed(conditions: list[tuple[Tensor, str]]) -> None:
    flags = torch.stack([flag if flag.ndim == 0 else flag.reshape(()) for flag, _ in conditions])
    if flags.all().item():  # the one sync of a call that passes
        return
    for ok, (_, message) in zip(flags.tolist(), conditions, strict=True):
        if not ok:
            raise ValueError(message)


@contextmanager
def deferred_checks() -> Iterator[None]:
    """Collect the value checks of a block and read them in one sync when it ends (also when
    it raises: a failed check explains the error better than what it caused); the state
    updates given to :func:`when_valid` inside it run after the checks pass."""
    global _pending, _updates
    if _pending is not None:
        yield
        return
    _pending, _updates = [], []
    try:
        yield
    finally:
        failed, updates, _pending, _updates = _pending, _updates, None, None
        if failed:
            _raise_failed(failed)
    for update in updates:
        update()


def when_valid(update: Callable[[], None]) -> None:
    """Run ``update`` (a stateful loss's change of its state) once the checks of the loss
    call in progress have passed, so that a refused batch leaves no trace; at once outside
    a call (the checks so far have raised already)."""
    if _updates is None:
        update()
    else:
        _updates.append(update)


def check_embeddings(
    x: Tensor, name: str = "embeddings", *, ndim: int = 2, values: bool = True
) -> Tensor:
    """Check that ``x`` is a non-empty, finite, floating tensor with ``ndim`` dimensions
    (``values=False``: finiteness is checked later, e.g. on the row norms of the kernel)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)})")
    if x.shape[-1] == 0:
        raise ValueError(f"{name} has zero embedding dimensions (shape {tuple(x.shape)})")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if values:
        require((all_finite(x), f"{name} contains NaN or inf values"))
    return x


def check_same_dim(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    """Check that two embedding matrices share their last dimension."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{names[0]} and {names[1]} have different embedding sizes: "
            f"{a.shape[-1]} vs {b.shape[-1]}"
        )


def check_embedding_list(tensors: Sequence[Tensor], name: str, *, values: bool = True) -> None:
    """Check a list of embedding tensors (as :func:`check_embeddings`, each named
    ``name[k]``) that must all have one shape."""
    for k, x in enumerate(tensors):
        check_embeddings(x, f"{name}[{k}]", values=values)
    shapes = {tuple(x.shape) for x in tensors}
    if len(shapes) != 1:
        raise ValueError(f"all {name} must have the same shape, got {sorted(shapes)}")


def check_same_length(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    """Check that two tensors have the same number of rows (pairs)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of rows, "
            f"got {a.shape[0]} and {b.shape[0]}"
        )


def check_labels(labels: Tensor, n: int, name: str = "labels") -> Tensor:
    """Check one label per sample: shape ``(n,)`` (class ids) or ``(n, C)`` (multi-hot)."""
    if not isinstance(labels, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (class ids) or 2-D (multi-hot), got {labels.ndim}-D")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has length {labels.shape[0]} but there are {n} samples")
    if labels.is_floating_point():
        require((all_finite(labels), f"{name} contains NaN or inf values"))
    return labels


def check_weights(weights: Tensor, n: int, name: str = "weights") -> Tensor:
    """Check per-sample weights: shape ``(n,)``, finite, non-negative, not all zero."""
    if weights.ndim != 1 or weights.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(weights.shape)}")
    require(
        (all_finite(weights), f"{name} contains NaN or inf values"),
        (~(weights < 0).any(), f"{name} must be non-negative"),
    )
    return weights


def check_positive(value: float, name: str) -> float:
    """Check a strictly positive finite hyper-parameter."""
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value
