"""The GPU benchmark: one run of at most about eight minutes on a single CUDA device.

1. Correctness at B = 8,192: CLIP, SupCon and SigLIP, bf16 inputs, exact and low-precision
   operand modes, dense and tiled, against the same loss in float64 (values and gradients).
2. Speed: CLIP, SupCon and SigLIP at B = 16k to 256k, d = 512 and 1,024, bf16 inputs,
   forward + backward, against open_clip ``ClipLoss``/``SigLipLoss`` and Inf-CL where they are
   installed and fit; effective TFLOP/s = 6 n m d / time beside the bf16 GEMM rate measured
   in the same process.
3. A tile sweep of the tiled CLIP loss at B = 65,536, d = 512.

    python benchmarks/gpu.py --out gpu.md        # on the GPU machine
    python benchmarks/gpu.py --smoke --device cpu  # a seconds-long check of the script

Cases run largest-last and stop cleanly at ``--budget`` seconds; a case that does not fit
in memory is reported as such.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor.bench import peers
from contrastor.bench.measure import gemm_rate, time_step
from contrastor.engine.precision import precision

T, BIAS = 0.07, -10.0


def losses(execution: str, tile: int | None = None) -> dict[str, Callable]:
    run = {"execution": execution, "tile_size": tile}
    return {
        "CLIP": lambda a, b: CF.info_nce(a, b, temperature=T, symmetric=True, **run),
        "SupCon": lambda a, b: CF.supcon(
            torch.stack([a, b], 1), peers.supcon_labels(a.shape[0]).to(a.device), **run
        ),
        "SigLIP": lambda a, b: CF.siglip(a, b, temperature=T, bias=BIAS, **run),
    }


def anchors(name: str, batch: int) -> int:
    return 2 * batch if name == "SupCon" else batch


def peer_losses() -> dict[str, list[tuple[str, Callable | None]]]:
    out = {
        "CLIP": [("open_clip ClipLoss", peers.open_clip_loss(T))],
        "SigLIP": [("open_clip SigLipLoss", peers.open_clip_siglip(T, BIAS))],
        "SupCon": [],
    }
    try:
        from inf_cl import cal_inf_loss  # Inf-CL: tiled CLIP-style loss, pure Python + Triton

        def inf_cl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            scale = torch.tensor(1 / T, device=a.device)
            return 0.5 * (cal_inf_loss(a, b, scale=scale) + cal_inf_loss(b, a, scale=scale))

        out["CLIP"].append(("Inf-CL", inf_cl))
    except ImportError:
        out["CLIP"].append(("Inf-CL", None))
    return out


def inputs(batch: int, dim: int, dtype: torch.dtype, device: torch.device, seed: int = 0):
    g = torch.Generator(device=device).manual_seed(seed)
    a = torch.randn(batch, dim, generator=g, device=device, dtype=torch.float32)
    b = a + 0.5 * torch.randn(batch, dim, generator=g, device=device, dtype=torch.float32)
    return (
        F.normalize(a, dim=1).to(dtype).requires_grad_(True),
        F.normalize(b, dim=1).to(dtype).requires_grad_(True),
    )


def correctness(batch: int, device: torch.device) -> list[str]:
    """Relative errors of value and gradients against float64, per mode and path."""
    rows = []
    for name in ("CLIP", "SupCon", "SigLIP"):
        a, b = inputs(batch, 256, torch.bfloat16, device)
        a64, b64 = (x.detach().double().requires_grad_(True) for x in (a, b))
        ref = losses("dense")[name](a64, b64)
        ref.backward()
        for mode in ("exact", "low"):
            for execution in ("dense", "tiled"):
                x, y = (t.detach().clone().requires_grad_(True) for t in (a, b))
                with precision(mode):
                    loss = losses(execution)[name](x, y)
                loss.backward()
                value = abs(loss.item() - ref.item()) / abs(ref.item())
                grad = max(
                    float((g.grad.double() - h.grad).norm() / h.grad.norm())
                    for g, h in ((x, a64), (y, b64))
                )
                rows.append(f"| {name} | {mode} | {execution} | {value:.2e} | {grad:.2e} |")
    return rows


def speed(
    batches: list[int], dims: list[int], device: torch.device, deadline: float, rates: dict
) -> list[str]:
    rows, peer_table = [], peer_losses()
    for dim in dims:
        for batch in batches:
            for name, ours in losses("auto").items():
                methods = [("contrastor", ours), *peer_table[name]]
                for method, fn in methods:
                    cells = _run(fn, batch, dim, device, deadline)
                    n = anchors(name, batch)
                    if isinstance(cells, str):
                        rows.append(f"| {name} | {method} | {batch:,} | {dim} | {cells} | | | |")
                        continue
                    seconds, mib = cells
                    tflops = 6 * n * n * dim / seconds / 1e12
                    floor = tflops / (rates[dim] / 1e12)
                    rows.append(
                        f"| {name} | {method} | {batch:,} | {dim} | {seconds:.4f} | {mib:,.0f} "
                        f"| {tflops:.0f} | {floor:.2f} |"
                    )
                    print(rows[-1], flush=True)
    return rows


def _run(fn, batch, dim, device, deadline, repeats: int = 3) -> tuple[float, float] | str:
    if fn is None:
        return "not installed"
    if time.monotonic() > deadline:
        return "skipped (time budget)"
    try:
        a, b = inputs(batch, dim, torch.bfloat16, device)

        def step() -> None:
            fn(a, b).backward()
            a.grad = b.grad = None

        timing = time_step(step, device, repeats if batch <= 65536 else 1)
        return timing.seconds, timing.extra_bytes / 2**20
    except torch.OutOfMemoryError:
        return "out of memory"
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def tile_sweep(batch: int, dim: int, tiles: list[int], device, deadline) -> list[str]:
    rows = []
    for tile in tiles:
        cells = _run(losses("tiled", tile)["CLIP"], batch, dim, device, deadline)
        text = cells if isinstance(cells, str) else f"{cells[0]:.4f} | {cells[1]:,.0f}"
        rows.append(f"| {tile:,} | {text} |")
    return rows


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the speed part")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script")
    parser.add_argument("--out", help="write the Markdown report here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    start = time.monotonic()
    if args.smoke:
        check, batches, dims, sweep = 64, [128, 256], [16], (256, 16, [32, 64])
    else:
        check = 8192
        batches, dims = [16384, 32768, 65536, 131072, 262144], [512, 1024]
        sweep = (65536, 512, [2048, 4096, 8192, 16384, 32768])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    rates = {d: gemm_rate(d, torch.bfloat16, device, size=8192) for d in dims}
    lines = [
        "# GPU benchmark",
        "",
        f"Device: {name}; torch {torch.__version__}; bf16 GEMM rate "
        + ", ".join(f"{rates[d] / 1e12:.0f} TFLOP/s at d = {d}" for d in dims)
        + " (an 8192 x d x 8192 product, measured in this run).",
        "",
        f"## Correctness at B = {check:,} (bf16 inputs, relative to float64)",
        "",
        "| loss | operand mode | path | value error | gradient error |",
        "| --- | --- | --- | ---: | ---: |",
        *correctness(check, device),
    ]
    deadline = start + args.budget
    lines += [
        "",
        "## Forward + backward, bf16 inputs",
        "",
        "| loss | method | batch B | dim d | time (s) | extra memory (MiB) | TFLOP/s | "
        "of GEMM rate |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *speed(batches, dims, device, deadline, rates),
        "",
        f"## Tile sweep: tiled CLIP, B = {sweep[0]:,}, d = {sweep[1]}",
        "",
        "| tile | time (s) | extra memory (MiB) |",
        "| ---: | ---: | ---: |",
        *tile_sweep(*sweep, device, deadline + 60),
        "",
        f"Total {time.monotonic() - start:.0f} s.",
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
