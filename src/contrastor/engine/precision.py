"""The precision policy, in one place.

Whatever the input dtype and the ambient ``torch.autocast``, every loss computes its scores,
log-sum-exps, positive sums, counts and weights in float32 (float64 inputs stay float64),
and its forward and backward passes see the same scores:

- each public loss runs under :func:`full_precision`: autocast is switched off inside it and
  half-precision inputs are promoted by :func:`compute_dtype`, so no elementwise op or
  reduction of a loss ever runs in bf16/fp16;
- the matrix products of the engine go through :func:`matmul`. On CUDA, when the caller ran
  in low precision (inside autocast, or with bf16/fp16 embeddings), their operands are cast
  to that dtype and multiplied with float32 accumulation and a float32 result (the tensor-core
  path); everywhere else, and always in ``"exact"`` mode, they are float32.

Modes (:func:`set_precision` or the :func:`precision` context): ``"auto"`` (the default,
above), ``"exact"`` (float32 operands everywhere) and ``"low"`` (low-precision operands on
every device; on CPU the product of the rounded operands is formed in float32, which gives
the same numbers as a tensor core up to summation order, so the low-precision policy can be
tested without a GPU).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

import torch
from torch import Tensor

from contrastor._validation import deferred_checks

MODES = ("auto", "exact", "low")
HALF = (torch.float16, torch.bfloat16)

_mode = "auto"
#: low-precision dtype of the outermost loss call in progress (None: full precision)
_caller_dtype: torch.dtype | None = None
_inside = False

F = TypeVar("F", bound=Callable[..., Any])


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Precision the objectives run in: half types are promoted to float32."""
    return torch.float32 if dtype in HALF else dtype


def set_precision(mode: str) -> None:
    """Choose the matrix-product precision of every loss (see the module docstring)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"precision must be one of {MODES}, got {mode!r}")
    _mode = mode


def get_precision() -> str:
    return _mode


@contextmanager
def precision(mode: str) -> Iterator[None]:
    """``with precision("exact"):`` runs the block under another precision mode."""
    previous = _mode
    set_precision(mode)
    try:
        yield
    finally:
        set_precision(previous)


def _first_tensor(args: tuple, kwargs: dict) -> Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Tensor) and value.is_floating_point():
            return value
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
            return value[0]
    return None


def full_precision(fn: F) -> F:
    """The boundary of a public loss: run it with autocast off on its inputs' device,
    remembering the caller's low precision (autocast dtype, else a bf16/fp16 input) for
    :func:`operand_dtype`, and read its value checks in one sync at the end
    (:func:`contrastor._validation.deferred_checks`). Nested loss calls keep the outermost
    caller's setting."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _caller_dtype, _inside
        if _inside:
            return fn(*args, **kwargs)
        first = _first_tensor(args, kwargs)
        if first is None:
            return fn(*args, **kwargs)
        kind = first.device.type
        if torch.is_autocast_enabled(kind):
            low = torch.get_autocast_dtype(kind)
        else:
            low = first.dtype if first.dtype in HALF else None
        _inside, _caller_dtype = True, low
        try:
            with no_autocast(kind), deferred_checks():
                return fn(*args, **kwargs)
        finally:
            _inside, _caller_dtype = False, None

    return wrapper  # type: ignore[return-value]


def no_autocast(device_type: str) -> AbstractContextManager:
    """A context with autocast off for ``device_type`` (nothing to do when it is off)."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


def operand_dtype(x: Tensor) -> torch.dtype:
    """dtype of the engine's matrix-product operands for a prepared tensor ``x``."""
    full = compute_dtype(x.dtype)
    if _caller_dtype is None or _mode == "exact" or full == torch.float64:
        return full
    if _mode == "low" or (x.device.type == "cuda" and _has_out_dtype()):
        return _caller_dtype
    return full


def operand(x: Tensor) -> Tensor:
    """``x`` cast to the operand dtype of :func:`operand_dtype`."""
    dtype = operand_dtype(x)
    return x if x.dtype == dtype else x.to(dtype)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` with float32 accumulation and a float32 (or float64) result, operands as
    given: half operands use the CUDA ``out_dtype`` product, or an exact float32 product of
    the rounded values elsewhere."""
    if a.dtype not in HALF:
        return a @ b
    if a.device.type == "cuda" and _has_out_dtype():
        return torch.mm(a, b, out_dtype=torch.float32)
    return a.float() @ b.float()


@functools.cache
def _has_out_dtype() -> bool:
    """Whether this torch has ``torch.mm(..., out_dtype=)`` on CUDA (2.8 and later)."""
    if not torch.cuda.is_available():
        return False
    try:
        a = torch.zeros(16, 16, device="cuda", dtype=torch.bfloat16)
        return torch.mm(a, a, out_dtype=torch.float32).dtype == torch.float32
    except (RuntimeError, TypeError):
        return False
