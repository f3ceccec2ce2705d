"""Timing, peak memory, host-device syncs and the matrix-product floor of one forward +
backward.

Time: the median of ``repeats`` calls after one warm-up call, synchronised on accelerators.
Extra memory: on CUDA the peak of allocated memory above what was allocated before the first
call; on CPU the growth of the process's peak resident memory over the calls (so run each
case in a fresh process for figures of its own). GEMM floor: the ``6 n m d`` flops of the
forward product and the two products of the backward pass, timed as those very products
(:func:`floor_step`) in turn with the loss (:func:`against_floor`), so that a machine whose
speed drifts slows both alike; :func:`gemm_rate` gives a rate for a quick estimate.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Timing:
    seconds: float
    extra_bytes: int


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call of ``fn``, synchronised on accelerators."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_step(
    step: Callable[[], None], device: torch.device, repeats: int, warmup: bool = True
) -> Timing:
    """Median wall time of ``step()`` (forward + backward) and the extra peak memory, after
    one untimed call when ``warmup`` (its memory counts)."""
    cuda = device.type == "cuda"
    if cuda:
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _peak_rss()
    if warmup:
        step()
    times = [seconds(step, device) for _ in range(repeats)]
    peak = torch.cuda.max_memory_allocated(device) if cuda else _peak_rss()
    return Timing(statistics.median(times), max(0, peak - base))


#: profiler events that force a host-device sync: ``item()`` and ``bool(tensor)`` go through
#: ``_local_scalar_dense``; ``nonzero`` must learn its output size
SYNCING = ("aten::_local_scalar_dense", "aten::nonzero")


def host_syncs(fn: Callable[[], object]) -> int:
    """Sync-forcing ops of one call of ``fn``, counted with the torch profiler."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.count for e in prof.key_averages() if e.key in SYNCING)


def gemm_rate(d: int, dtype: torch.dtype, device: torch.device, size: int = 4096) -> float:
    """Measured flop/s of a ``(size x d) @ (d x size)`` product (best of five)."""
    if device.type == "cpu":
        dtype = torch.float32  # the engine multiplies in float32 on CPU
    a = torch.randn(size, d, device=device, dtype=dtype)
    b = torch.randn(d, size, device=device, dtype=dtype)
    a @ b
    best = min(seconds(lambda: a @ b, device) for _ in range(5))
    return 2 * size * size * d / best


def floor_step(
    n: int, m: int, d: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> Callable[[], None]:
    """The matrix products of one forward + backward and nothing else: for row blocks of up
    to 4,096 queries, ``l = q_a r^T``, ``l r`` and ``l^T q_a`` (``6 n m d`` flops), operands in
    ``dtype`` (float32 on CPU, as the engine multiplies there)."""
    if device.type == "cpu":
        dtype = torch.float32
    q = torch.randn(n, d, device=device, dtype=dtype)
    r = torch.randn(m, d, device=device, dtype=dtype)
    rows = min(n, 4096)

    def go() -> None:
        for a in range(0, n, rows):
            block = q[a : a + rows] @ r.T
            block @ r
            block.T @ q[a : a + rows]

    return go


def against_floor(
    step: Callable[[], None], floor: Callable[[], None], device: torch.device, rounds: int
) -> float:
    """``step`` and ``floor`` called in turn ``rounds`` times: the median of the per-round
    ratios ``step / floor``."""
    ratios = [seconds(step, device) / seconds(floor, device) for _ in range(rounds)]
    return statistics.median(ratios)


def time_with_floor(
    step: Callable[[], None],
    floor: Callable[[], None],
    device: torch.device,
    repeats: int,
    rounds: int,
    warmup: bool = True,
) -> tuple[Timing, float]:
    """:func:`time_step` (time and memory first, so that the floor's buffers do not count),
    then :func:`against_floor` over ``rounds`` rounds."""
    timing = time_step(step, device, repeats, warmup)
    return timing, against_floor(step, floor, device, rounds)
