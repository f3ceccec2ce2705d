"""Speed and memory of contrastive losses, forward + backward, side by side in one run.

Methods: contrastor's dense and tiled paths, and the peers users would otherwise pick
(pytorch-metric-learning, lightly, open_clip) when installed. Each case runs in a fresh
subprocess with an address-space cap, so its peak memory is its own and an allocation that
does not fit fails cleanly. Reported: wall time of one forward + backward (median of the
repetitions), extra peak resident memory above the process after its inputs exist, and the
ratio of the time to the matrix-multiply floor ``6 * B^2 * d`` flops at the fp32 GEMM rate
measured in the same run. Inputs are random unit vectors, temperature 0.1.

    python benchmarks/run_all.py --out docs/benchmarks.md           # the full table
    python benchmarks/run_all.py --quick                              # a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

#: (family, method) -> what it runs; families compare like with like
METHODS = {
    ("NT-Xent (2 views, 2B anchors)", "contrastor dense"): "ntxent-dense",
    ("NT-Xent (2 views, 2B anchors)", "contrastor tiled"): "ntxent-tiled",
    ("NT-Xent (2 views, 2B anchors)", "pytorch-metric-learning NTXentLoss"): "pml",
    ("NT-Xent (2 views, 2B anchors)", "lightly NTXentLoss"): "lightly",
    ("CLIP (symmetric InfoNCE)", "contrastor dense"): "clip-dense",
    ("CLIP (symmetric InfoNCE)", "contrastor tiled"): "clip-tiled",
    ("CLIP (symmetric InfoNCE)", "open_clip ClipLoss"): "open_clip",
    ("SupCon (2 views, 1,000 classes)", "contrastor tiled"): "supcon-tiled",
}
MEMORY_CAP = 20 << 30


def build(method: str):
    import contrastor.functional as CF
    import peers

    t = 0.1
    table = {
        "ntxent-dense": lambda a, b: CF.nt_xent([a, b], temperature=t, execution="dense"),
        "ntxent-tiled": lambda a, b: CF.nt_xent([a, b], temperature=t, execution="tiled"),
        "clip-dense": lambda a, b: CF.info_nce(
            a, b, temperature=t, symmetric=True, execution="dense"
        ),
        "clip-tiled": lambda a, b: CF.info_nce(
            a, b, temperature=t, symmetric=True, execution="tiled"
        ),
    }
    if method in table:
        return table[method]
    if method == "supcon-tiled":

        def supcon(a, b):
            labels = torch.arange(a.shape[0]) % 1000
            return CF.supcon(torch.stack([a, b], 1), labels, temperature=t, execution="tiled")

        return supcon
    return {
        "pml": peers.pml_ntxent,
        "lightly": peers.lightly_ntxent,
        "open_clip": peers.open_clip_loss,
    }[method](t)


def measure(method: str, batch: int, dim: int, repeats: int) -> dict:
    """Child process: time and extra peak memory of forward + backward."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    fn = build(method)
    if fn is None:
        return {"skipped": "not installed"}
    torch.manual_seed(0)
    q = F.normalize(torch.randn(batch, dim), dim=1).requires_grad_(True)
    r = F.normalize(torch.randn(batch, dim), dim=1).requires_grad_(True)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(q, r).backward()
        times.append(time.perf_counter() - start)
        q.grad = r.grad = None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rate = gemm_rate(dim)  # same process, right after: the floor sees the same machine state
    seconds = statistics.median(times)
    floor = 6 * batch * batch * dim / rate
    return {"seconds": seconds, "floor": floor, "extra_mib": (peak - base) / 1024}


def run_case(method: str, batch: int, dim: int, repeats: int, timeout: float) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from run_all import measure; "
        "print(json.dumps(measure(*json.loads(sys.argv[2]))))"
    )
    argv = [str(HERE), json.dumps([method, batch, dim, repeats])]
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"over {timeout:.0f} s"}
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
        reason = lines[-1] if lines else f"exit {proc.returncode}"
        asked = re.search(r"allocate (\d+) bytes", reason)
        if asked:
            reason = f"out of memory (asked for {int(asked.group(1)) / 2**30:.1f} GiB at once)"
        return {"failed": reason[:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gemm_rate(d: int, size: int = 4096, repeats: int = 5) -> float:
    """Measured fp32 GEMM throughput (flop/s) of a (size x d) @ (d x size) product."""
    a, b = torch.randn(size, d), torch.randn(d, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size * size * d / best


def plan(quick: bool) -> list[tuple[tuple[str, str], int, int]]:
    """Which (method, batch, dim) to run: every method where it can fit; large sizes only
    for the paths whose memory allows them."""
    if quick:
        return [(key, 1024, 128) for key in METHODS]
    cases = []
    for dim, batches in ((128, (1024, 4096, 16384, 65536)), (768, (1024, 4096, 16384))):
        for key, method in METHODS.items():
            for b in batches:
                if method in ("ntxent-dense", "pml") and b > 4096:
                    continue  # (2B)^2 matrices and their temporaries exceed the machine
                if method in ("clip-dense", "lightly", "open_clip") and b > 16384:
                    continue
                if method in ("ntxent-tiled", "supcon-tiled") and b > 16384:
                    continue  # 2B = 131,072 anchors: minutes per step on 2 cores
                cases.append((key, b, dim))
    cases.append(((("CLIP (symmetric InfoNCE)", "contrastor tiled")), 65536, 256))
    cases.append(((("SupCon (2 views, 1,000 classes)", "contrastor tiled")), 32768, 256))
    cases.append(((("CLIP (symmetric InfoNCE)", "contrastor tiled")), 16384, 256))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 1,024 only")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    parser.add_argument("--out", help="write the Markdown report here")
    args = parser.parse_args()
    import peers

    cases = plan(args.quick)
    rows = []
    for (family, name), batch, dim in cases:
        method = METHODS[(family, name)]
        repeats = 3 if batch <= 4096 else 1
        res = run_case(method, batch, dim, repeats, args.timeout)
        if "seconds" in res:
            cells = [
                f"{res['seconds']:.3f}",
                f"{res['seconds'] / res['floor']:.2f}",
                f"{res['extra_mib']:.0f}",
            ]
        else:
            cells = [res.get("failed") or res.get("skipped"), "", ""]
        row = f"| {family} | {name} | {batch:,} | {dim} | " + " | ".join(cells) + " |"
        print(row, flush=True)
        rows.append(row)
    info = peers.versions()
    lines = [
        "# Benchmarks",
        "",
        "Forward + backward of one loss evaluation on random unit vectors (fp32, CPU).",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}; "
        + ", ".join(f"{k} {v}" for k, v in info.items())
        + ".",
        "GEMM floor = 6 B^2 d flops at the fp32 rate of a (4096 x d) @ (d x 4096) product measured",
        "in the same process right after the case (this shared machine's speed drifts by up to",
        "20% over minutes). For NT-Xent and SupCon the loss compares 2B x 2B views, four times the",
        "pairs of the floor's B x B. Time: median of 3 runs up to B = 4,096, one run above.",
        "Extra memory: peak resident memory above the process once its inputs exist. Every case",
        "runs in its own process, capped at 20 GiB of address space; a failure is shown as such.",
        "",
        "Command: `python benchmarks/run_all.py"
        + (" --quick" if args.quick else "")
        + " --out docs/benchmarks.md`",
        "",
        "| loss | method | batch B | dim d | time (s) | x GEMM floor | extra peak memory (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
