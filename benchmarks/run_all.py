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
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from contrastor.bench.measure import gemm_rate, time_step

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

CLIP, SIGLIP, NTXENT, DCL, SUPCON = (
    "CLIP (symmetric InfoNCE)",
    "SigLIP (pairwise sigmoid)",
    "NT-Xent (2 views, 2B anchors)",
    "DCL (2 views, 2B anchors)",
    "SupCon (2 views, 1,000 classes)",
)
#: (family, method) -> what it runs; families compare like with like; the first method of a
#: family is contrastor's default call (``execution="auto"``)
METHODS = {
    (CLIP, "contrastor"): "clip-auto",
    (CLIP, "contrastor tiled"): "clip-tiled",
    (CLIP, "open_clip ClipLoss"): "open_clip",
    (SIGLIP, "contrastor"): "siglip-auto",
    (SIGLIP, "contrastor tiled"): "siglip-tiled",
    (SIGLIP, "open_clip SigLipLoss"): "open_clip_siglip",
    (NTXENT, "contrastor"): "ntxent-auto",
    (NTXENT, "contrastor tiled"): "ntxent-tiled",
    (NTXENT, "lightly NTXentLoss"): "lightly",
    (NTXENT, "pytorch-metric-learning NTXentLoss"): "pml",
    (DCL, "contrastor"): "dcl-auto",
    (DCL, "lightly DCLLoss"): "lightly_dcl",
    (SUPCON, "contrastor"): "supcon-auto",
    (SUPCON, "contrastor tiled"): "supcon-tiled",
    (SUPCON, "pytorch-metric-learning SupConLoss"): "pml_supcon",
}
#: contrastor's default call under torch.compile, timed after its compilation
COMPILED = {
    (family, "contrastor compiled"): method.replace("-auto", "-compiled")
    for (family, name), method in METHODS.items()
    if name == "contrastor"
}
MEMORY_CAP = 20 << 30
T, BIAS = 0.1, -10.0


def build(method: str):
    import contrastor.functional as CF
    from contrastor.bench import peers

    kind, _, execution = method.partition("-")
    if execution == "compiled":
        return torch.compile(build(f"{kind}-auto"))
    if execution:
        run = {"execution": execution}
        return {
            "clip": lambda a, b: CF.info_nce(a, b, temperature=T, symmetric=True, **run),
            "siglip": lambda a, b: CF.siglip(a, b, temperature=T, bias=BIAS, **run),
            "ntxent": lambda a, b: CF.nt_xent([a, b], temperature=T, **run),
            "dcl": lambda a, b: CF.dcl([a, b], temperature=T, **run),
            "supcon": lambda a, b: CF.supcon(
                torch.stack([a, b], 1), peers.supcon_labels(a.shape[0]), temperature=T, **run
            ),
        }[kind]
    if method == "open_clip_siglip":
        return peers.open_clip_siglip(T, BIAS)
    return {
        "pml": peers.pml_ntxent,
        "pml_supcon": peers.pml_supcon,
        "lightly": peers.lightly_ntxent,
        "lightly_dcl": peers.lightly_dcl,
        "open_clip": peers.open_clip_loss,
    }[method](T)


def anchors(method: str, batch: int) -> tuple[int, int]:
    """Score-matrix shape of a contrastor method (what ``auto`` decides on)."""
    views = method.split("-")[0] in ("ntxent", "dcl", "supcon")
    return (2 * batch, 2 * batch) if views else (batch, batch)


def measure(method: str, batch: int, dim: int, repeats: int) -> dict:
    """Child process: time and extra peak memory of forward + backward."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    fn = build(method)
    if fn is None:
        return {"skipped": "not installed"}
    torch.manual_seed(0)
    q = F.normalize(torch.randn(batch, dim), dim=1).requires_grad_(True)
    r = F.normalize(torch.randn(batch, dim), dim=1).requires_grad_(True)

    def step() -> None:
        fn(q, r).backward()
        q.grad = r.grad = None

    # warm-up (and compilation) below B = 16,384, where one call is seconds
    warmup = batch <= 4096 or method.endswith("-compiled")
    timing = time_step(step, torch.device("cpu"), repeats, warmup)
    # same process, right after: the floor sees the same machine state
    rate = gemm_rate(dim, torch.float32, torch.device("cpu"))
    floor = 6 * batch * batch * dim / rate
    out = {"seconds": timing.seconds, "floor": floor, "extra_mib": timing.extra_bytes / 2**20}
    if method.endswith("-auto"):
        from contrastor.engine.softmax import resolve_execution

        keep, _ = resolve_execution("auto", *anchors(method, batch), q.device)
        out["path"] = "dense" if keep else "tiled"
    return out


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


def plan(quick: bool) -> list[tuple[tuple[str, str], int, int]]:
    """Which (method, batch, dim) to run: every method where it can fit; the largest sizes
    only for the paths whose memory allows them."""
    if quick:
        return [(key, 1024, 128) for key in METHODS]
    cases = []
    for dim in (128, 768):
        for key, method in METHODS.items():
            for b in (256, 1024, 4096, 16384):
                if method == "pml" and b > 1024:
                    continue  # asks for 32 GiB at B = 1,024 already (see the table)
                cases.append((key, b, dim))
    cases += [(key, b, 128) for key in COMPILED for b in (256, 1024)]
    cases.append(((CLIP, "contrastor tiled"), 16384, 256))
    cases.append(((CLIP, "contrastor tiled"), 65536, 256))
    return cases


def repeats_for(batch: int) -> int:
    return {256: 21, 1024: 7, 4096: 3}.get(batch, 1)


def ratios(results: dict) -> list[str]:
    """contrastor's default call against the fastest peer that ran, per family and size."""
    rows = []
    for (family, name), batch, dim in sorted(results, key=lambda k: (k[0][0], k[2], k[1])):
        if name != "contrastor":
            continue
        ours = results[((family, name), batch, dim)]
        peers = {
            peer: res["seconds"]
            for ((fam, peer), b, d), res in results.items()
            if fam == family
            and b == batch
            and d == dim
            and "seconds" in res
            and not peer.startswith("contrastor")
        }
        if "seconds" not in ours or not peers:
            continue
        best = min(peers, key=peers.get)
        compiled = results.get(((family, "contrastor compiled"), batch, dim), {})
        fast = f"{compiled['seconds'] / peers[best]:.2f}" if "seconds" in compiled else ""
        rows.append(
            f"| {family} | {batch:,} | {dim} | {ours.get('path', '')} | {ours['seconds']:.4f} "
            f"| {best} {peers[best]:.4f} | {ours['seconds'] / peers[best]:.2f} | {fast} |"
        )
    return rows


NOTES = [
    "No GPU figures: no accelerator was lent to the session that produced this page.",
    "`benchmarks/gpu.py` is the prepared single-GPU run (bf16, B = 16k to 256k, open_clip and",
    "Inf-CL beside, a tile sweep); its figures go in a section of their own, not measured yet.",
    "",
    "The cached encoder's memory benchmark is in [cached_memory.md](cached_memory.md).",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 1,024 only")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    parser.add_argument("--out", help="write the Markdown report here")
    args = parser.parse_args()
    import engine_counts
    from contrastor.bench import peers

    rows, results = [], {}
    for key, batch, dim in plan(args.quick):
        res = run_case({**METHODS, **COMPILED}[key], batch, dim, repeats_for(batch), args.timeout)
        results[(key, batch, dim)] = res
        name = key[1] + (f" (auto: {res['path']})" if "path" in res else "")
        if "seconds" in res:
            cells = [
                f"{res['seconds']:.4f}",
                f"{res['seconds'] / res['floor']:.2f}",
                f"{res['extra_mib']:.0f}",
            ]
        else:
            cells = [res.get("failed") or res.get("skipped"), "", ""]
        row = f"| {key[0]} | {name} | {batch:,} | {dim} | " + " | ".join(cells) + " |"
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
        "20% over minutes). For NT-Xent, DCL and SupCon the loss compares 2B x 2B views, four",
        "times the pairs of the floor's B x B. Time: median of 21 runs at B = 256, 7 at 1,024,",
        "3 at 4,096, one above. Extra memory: peak resident memory above the process once its",
        "inputs exist. Every case runs in its own process, capped at 20 GiB of address space; a",
        "failure is shown as such. contrastor normalises its inputs itself (cosine similarity);",
        "the peers are given the unit vectors as they are. `contrastor` is the default call",
        '(`execution="auto"`, the path it chose in brackets); `contrastor compiled` is the',
        "same call under `torch.compile` (inductor), timed after its compilation, against the",
        "peers' eager calls.",
        "",
        "Command: `python benchmarks/run_all.py"
        + (" --quick" if args.quick else "")
        + " --out docs/benchmarks.md` (`make bench` installs the peers first)",
        "",
        "## contrastor's default call against the fastest peer",
        "",
        "| loss | batch B | dim d | path | contrastor (s) | fastest peer (s) | ratio "
        "| ratio, compiled |",
        "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: |",
        *ratios(results),
        "",
        "## Every case",
        "",
        "| loss | method | batch B | dim d | time (s) | x GEMM floor | extra peak memory (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "## Host-device syncs and graph breaks per loss call",
        "",
        engine_counts.__doc__.strip(),
        f"Batch {engine_counts.N} x {engine_counts.D}, tiled path, forward + backward.",
        "",
        *engine_counts.HEADER,
        *engine_counts.rows(),
        "",
        *NOTES,
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
