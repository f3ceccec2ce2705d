"""Speed and memory of contrastor's losses (forward + backward), side by side in one run.

Each case runs in a fresh subprocess so its peak memory is its own: the table gives the
median wall time of a few repetitions, the extra peak resident memory over the process
baseline, and the ratio of the time to the machine's matrix-multiply floor
(``6 * B^2 * d`` flops at the fp32 GEMM rate measured in the same run).

    python benchmarks/run_all.py --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

LOSSES = ("info_nce", "info_nce_symmetric", "nt_xent", "supcon", "dcl", "siglip")


def gemm_rate(d: int, size: int = 4096, repeats: int = 5) -> float:
    """Measured fp32 GEMM throughput in flop/s for a (size x d) @ (d x size) product."""
    a, b = torch.randn(size, d), torch.randn(d, size)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size * size * d / min(times)


def _call(name: str, q: torch.Tensor, r: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    import contrastor.functional as CF

    if name == "info_nce":
        return CF.info_nce(q, r, temperature=0.1)
    if name == "info_nce_symmetric":
        return CF.info_nce(q, r, temperature=0.1, symmetric=True)
    if name == "nt_xent":
        return CF.nt_xent([q, r], temperature=0.1)
    if name == "supcon":
        return CF.supcon(torch.stack([q, r], 1), labels, temperature=0.1)
    if name == "dcl":
        return CF.dcl([q, r], temperature=0.1)
    return CF.siglip(q, r)


def measure(name: str, batch: int, dim: int, repeats: int) -> dict:
    """Run in the child process: time and extra peak RSS of forward + backward."""
    torch.manual_seed(0)
    q = torch.randn(batch, dim, requires_grad=True)
    r = torch.randn(batch, dim, requires_grad=True)
    labels = torch.randint(0, 100, (batch,))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _call(name, q, r, labels).backward()
        times.append(time.perf_counter() - start)
        q.grad = r.grad = None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": statistics.median(times), "extra_mib": (peak - base) / 1024}


def run_case(name: str, batch: int, dim: int, repeats: int) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from run_all import measure; "
        "print(json.dumps(measure(*json.loads(sys.argv[2]))))"
    )
    argv = [str(Path(__file__).parent), json.dumps([name, batch, dim, repeats])]
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1024,2048,4096")
    parser.add_argument("--dims", default="128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the Markdown table here")
    args = parser.parse_args()
    batches = [int(x) for x in args.batches.split(",")]
    dims = [int(x) for x in args.dims.split(",")]
    rates = {d: gemm_rate(d) for d in dims}
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, Python {platform.python_version()}. "
        "Dense path, fp32, forward + backward, median of "
        f"{args.repeats}. Floor = 6 B^2 d flops at the measured GEMM rate; extra memory = peak "
        "resident memory above the process baseline.",
        "",
        "Command: `python benchmarks/run_all.py --out docs/benchmarks.md`",
        "",
        "| loss | batch | dim | time (s) | x GEMM floor | extra peak memory (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in dims:
        lines.insert(4, f"Measured GEMM rate at d={d}: {rates[d] / 1e9:.1f} GFLOP/s.")
    for name in LOSSES:
        for d in dims:
            for b in batches:
                res = run_case(name, b, d, args.repeats)
                if "error" in res:
                    row = f"| {name} | {b} | {d} | failed: {res['error']} | | |"
                else:
                    floor = 6 * b * b * d / rates[d]
                    row = (
                        f"| {name} | {b} | {d} | {res['seconds']:.4f} | "
                        f"{res['seconds'] / floor:.1f} | {res['extra_mib']:.0f} |"
                    )
                print(row, flush=True)
                lines.append(row)
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
