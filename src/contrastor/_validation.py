"""Input checks shared by losses and metrics: each failure is a ``ValueError`` naming it.

Checks that read tensor values (NaN/inf, "no positive in this batch", weights) force a
host-device sync each; a loss call costs a fixed number of them, never one per tile. For
compiled or production runs they can be switched off with :func:`set_validation` or the
:func:`validation` context, and they are skipped while ``torch.compile`` traces (shape and
type checks always run).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

_enabled = True


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


def require(*conditions: tuple[Tensor, str]) -> None:
    """Raise ``ValueError(message)`` for the first ``(flag, message)`` whose 0-d bool tensor is
    False, reading all flags with one host-device sync (nothing when validation is off)."""
    if not conditions or not validating():
        return
    values = torch.stack([flag.reshape(()).to(torch.bool) for flag, _ in conditions]).tolist()
    for ok, (_, message) in zip(values, conditions, strict=True):
        if not ok:
            raise ValueError(message)


def check_embeddings(x: Tensor, name: str = "embeddings", *, ndim: int = 2) -> Tensor:
    """Check that ``x`` is a non-empty, finite, floating tensor with ``ndim`` dimensions."""
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
    require((torch.isfinite(x).all(), f"{name} contains NaN or inf values"))
    return x


def check_same_dim(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    """Check that two embedding matrices share their last dimension."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{names[0]} and {names[1]} have different embedding sizes: "
            f"{a.shape[-1]} vs {b.shape[-1]}"
        )


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
        require((torch.isfinite(labels).all(), f"{name} contains NaN or inf values"))
    return labels


def check_weights(weights: Tensor, n: int, name: str = "weights") -> Tensor:
    """Check per-sample weights: shape ``(n,)``, finite, non-negative, not all zero."""
    if weights.ndim != 1 or weights.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(weights.shape)}")
    require(
        (torch.isfinite(weights).all(), f"{name} contains NaN or inf values"),
        (~(weights < 0).any(), f"{name} must be non-negative"),
    )
    return weights


def check_positive(value: float, name: str) -> float:
    """Check a strictly positive finite hyper-parameter."""
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value
