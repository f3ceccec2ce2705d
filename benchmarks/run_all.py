"""Speed and memory of contrastive losses, forward + backward, side by side in one run.

Methods: contrastor's dense and tiled paths, and the peers users would otherwise pick
(pytorch-metric-learning, lightly, open_clip) when installed. Each case runs in a fresh
subprocess with an address-space cap, so its peak memory is its own and an allocation that
does not fit fails cleanly. Reported: wall time of one forward + backward (median of the
repetitions), extra peak resident memory above the process after its inputs exist, and the
ratio of the time to the matrix-multiply floor: the three ``B x B x d`` products of a forward
+ backward alone, called in turn with the loss in the same process. Inputs are random unit
vectors, temperature 0.1.

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

from contrastor.bench.measure import floor_step, time_with_floor

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

CLIP, SIGLIP, NTXENT, DCL, SUPCON = (
    "CLIP (symmetric InfoNCE)",
    "SigLIP (pairwise sigmoid)",
    "NT-Xent (2 views, 2B anchors)",
    "DCL (2 views, 2B anchors)",
    "SupCon (2 views, 1,000 classes)",
)
#: a peer given unit vectors and not normalising them: less work than contrastor's cosine
#: default, so shown beside the ratios rather than counted as the same function
RAW = "{} (unit inputs, no normalisation)"
#: (family, method) -> what it runs; families compare like with like; the first method of a
#: family is contrastor's default call (``execution="auto"``)
METHODS = {
    (CLIP, "contrastor"): "clip-auto",
    (CLIP, "contrastor tiled"): "clip-tiled",
    (CLIP, "open_clip ClipLoss"): "open_clip",
    (CLIP, RAW.format("open_clip ClipLoss")): "open_clip_raw",
    (SIGLIP, "contrastor"): "siglip-auto",
    (SIGLIP, "contrastor tiled"): "siglip-tiled",
    (SIGLIP, "open_clip SigLipLoss"): "open_clip_siglip",
    (SIGLIP, RAW.format("open_clip SigLipLoss")): "open_clip_siglip_raw",
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
    if method.startswith("open_clip_siglip"):
        return peers.open_clip_siglip(T, BIAS, normalize=not method.endswith("_raw"))
    if method.startswith("open_clip"):
        return peers.open_clip_loss(T, normalize=not method.endswith("_raw"))
    return {
        "pml": peers.pml_ntxent,
        "pml_supcon": peers.pml_supcon,
        "lightly": peers.lightly_ntxent,
        "lightly_dcl": peers.lightly_dcl,
    }[method](T)


def anchors(method: str, batch: int) -> tuple[int, int]:
    """Score-matrix shape of a contrastor method (what ``auto`` decides on)."""
    views = method.split("-")[0] in ("ntxent", "dcl", "supcon")
    return (2 * batch, 2 * batch) if views else (batch, batch)


def unit_inputs(batch: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The benchmark's inputs: two ``(batch, dim)`` sets of random unit vectors, seed 0."""
    torch.manual_seed(0)
    q = F.normalize(torch.randn(batch, dim), dim=1).requires_grad_(True)
    r = F.normalize(torch.randn(batch, dim), dim=1).requires_grad_(True)
    return q, r


def measure(method: str, batch: int, dim: int, repeats: int) -> dict:
    """Child process: time and extra peak memory of forward + backward."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    fn = build(method)
    if fn is None:
        return {"skipped": "not installed"}
    q, r = unit_inputs(batch, dim)

    def step() -> None:
        fn(q, r).backward()
        q.grad = r.grad = None

    # warm-up (and compilation) below B = 16,384, where one call is seconds
    warmup = batch <= 4096 or method.endswith("-compiled")
    cpu = torch.device("cpu")
    floor = floor_step(batch, batch, dim, cpu)
    rounds = floor_rounds(method, batch, dim)
    timing, ratio = time_with_floor(step, floor, cpu, repeats, rounds, warmup)
    out = {"seconds": timing.seconds, "floor_ratio": ratio, "extra_mib": timing.extra_bytes / 2**20}
    if method.endswith("-auto"):
        from contrastor.engine.softmax import resolve_execution

        keep, _ = resolve_execution("auto", *anchors(method, batch), q.device)
        out["path"] = "dense" if keep else "tiled"
    return out


def burst_for(batch: int) -> int:
    return 6 if batch < 1024 else 2


def interleaved(methods: list[str], batch: int, dim: int, rounds: int) -> dict:
    """Child process: the methods of one family in turn, ``rounds`` times, so that the
    machine's drift hits them alike; each turn is a burst of calls of one method (6 below
    B = 1,024, else 2; the first of a burst is not timed, since it pays for the previous
    method's caches rather than for its own steady state in a training loop), and each
    method's time is the median of its timed calls."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    fns = {m: fn for m in methods if (fn := build(m)) is not None}
    q, r = unit_inputs(batch, dim)
    burst = burst_for(batch)
    times: dict[str, list[float]] = {m: [] for m in fns}
    for turn in range(rounds + 1):
        for m, fn in fns.items():
            for call in range(burst):
                start = time.perf_counter()
                fn(q, r).backward()
                if turn and call:
                    times[m].append(time.perf_counter() - start)
                q.grad = r.grad = None
    return {m: statistics.median(t) for m, t in times.items()}


def child(function: str, args: list, timeout: float) -> dict:
    """``function(*args)`` of this module in a fresh process, its JSON result or the reason
    it failed."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import run_all; "
        f"print(json.dumps(run_all.{function}(*json.loads(sys.argv[2]))))"
    )
    argv = [str(HERE), json.dumps(args)]
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


def run_case(method: str, batch: int, dim: int, repeats: int, timeout: float) -> dict:
    return child("measure", [method, batch, dim, repeats], timeout)


#: batch sizes whose family methods are also timed side by side in one process
INTERLEAVED_UP_TO = 4096


def side_by_side(results: dict, timeout: float) -> dict:
    """``(family, batch, dim) -> {method name: seconds}`` from one interleaved process per
    family and size, for every size up to :data:`INTERLEAVED_UP_TO` (the ratios' source)."""
    groups: dict[tuple[str, int, int], list[tuple[str, str]]] = {}
    for ((family, name), batch, dim), res in results.items():
        if batch <= INTERLEAVED_UP_TO and "seconds" in res:
            method = {**METHODS, **COMPILED}[(family, name)]
            groups.setdefault((family, batch, dim), []).append((name, method))
    out = {}
    for (family, batch, dim), members in groups.items():
        call = sum(results[((family, name), batch, dim)]["seconds"] for name, _ in members)
        rounds = interleaved_rounds(batch, call)
        res = child("interleaved", [[m for _, m in members], batch, dim, rounds], timeout)
        if "failed" not in res:
            out[(family, batch, dim)] = {name: res[m] for name, m in members if m in res}
    return out


#: wall-clock budget of one interleaved process, seconds
INTERLEAVED_BUDGET = 120.0


def interleaved_rounds(batch: int, call: float) -> int:
    """Rounds for one family: twice the separate repetitions, fewer (at least three) where
    one round of its methods (``call`` seconds per call, all methods) would overrun
    :data:`INTERLEAVED_BUDGET` (pytorch-metric-learning's NT-Xent takes seconds a call at
    B = 256)."""
    fits = int(INTERLEAVED_BUDGET / (call * burst_for(batch)))
    return max(3, min(2 * repeats_for(batch), fits))


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


def floor_rounds(method: str, batch: int, dim: int) -> int:
    """Rounds of the loss and the floor in turn: three or more up to B = 4,096 and for
    contrastor's paths at d <= 256 (the tiled CLIP row at 16,384 x 256 is a target), one for
    the other large cases (a peer there takes up to a minute a call)."""
    contrastor = "-" in method
    target = contrastor and batch == 16384 and dim <= 256
    return {256: 7, 1024: 5, 4096: 3}.get(batch, 3 if target else 1)


def ratios(results: dict, side: dict) -> list[str]:
    """contrastor's default call against the fastest peer computing the same function, per
    family and size: times from the interleaved run where there is one, else from the
    separate cases; the peer given unit vectors (no normalisation) in a column of its own."""
    rows = []
    keys = {(fam, b, d) for (fam, _), b, d in results}
    for family, batch, dim in sorted(keys, key=lambda k: (k[0], k[2], k[1])):
        times = side.get((family, batch, dim)) or {
            name: res["seconds"]
            for ((fam, name), b, d), res in results.items()
            if (fam, b, d) == (family, batch, dim) and "seconds" in res
        }
        peers = {
            name: t
            for name, t in times.items()
            if not name.startswith("contrastor") and not name.endswith(RAW.format(""))
        }
        ours = times.get("contrastor")
        if ours is None or not peers:
            continue
        best = min(peers, key=peers.get)
        compiled = times.get("contrastor compiled")
        raw = times.get(RAW.format(best))
        path = results[((family, "contrastor"), batch, dim)].get("path", "")
        cells = [
            f"{ours:.4f}",
            f"{best} {peers[best]:.4f}",
            f"{ours / peers[best]:.2f}",
            "" if compiled is None else f"{compiled / peers[best]:.2f}",
            "" if raw is None else f"{ours / raw:.2f}",
            "interleaved" if (family, batch, dim) in side else "separate",
        ]
        rows.append(f"| {family} | {batch:,} | {dim} | {path} | " + " | ".join(cells) + " |")
    return rows


def floor_target(results: dict) -> list[str]:
    """The tiled path's distance from the products it cannot avoid, at 16,384 x 256."""
    res = results.get(((CLIP, "contrastor tiled"), 16384, 256), {})
    if "floor_ratio" not in res:
        return []
    return [
        "## Tiled CLIP against the GEMM floor",
        "",
        f"CLIP, tiled path, B = 16,384, d = 256: {res['seconds']:.2f} s, "
        f"**{res['floor_ratio']:.2f}x** the time of its three matrix products alone (median of "
        "3 rounds in turn; the tiled backward recomputes each block, a fourth product, so 1.33x "
        "is its bound before any elementwise work).",
        "",
    ]


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
                f"{res['floor_ratio']:.2f}",
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
        "x GEMM floor: the case's time over the time of its matrix products alone (the three",
        "B x B x d products of a forward + backward, 6 B^2 d flops, as fp32 products of 4,096-row",
        "blocks against all columns), the two called in turn in the case's process (7 rounds at",
        "B = 256, 5 at 1,024, 3 at 4,096 and for contrastor's rows at 16,384 with d <= 256, else",
        "1; median of the per-round ratios), because this shared machine's speed drifts by up to",
        "50% over minutes. For NT-Xent, DCL and SupCon the loss compares 2B x 2B views, four",
        "times the pairs of the floor's B x B. Time: median of 21 runs at B = 256, 7 at 1,024,",
        "3 at 4,096, one above. Extra memory: peak resident memory above the process once its",
        "inputs exist. Every case runs in its own process, capped at 20 GiB of address space; a",
        "failure is shown as such. Every method computes the same function of the embeddings:",
        "contrastor's default cosine similarity normalises them, lightly and",
        "pytorch-metric-learning normalise inside their losses, and open_clip's losses, which",
        "take unit vectors (open_clip's models normalise before the loss), are given",
        "`F.normalize` of the inputs; the open_clip rows marked *unit inputs, no normalisation*",
        "skip that step (less work than the others) and are shown in a ratio column of their own.",
        "`contrastor` is the default call",
        '(`execution="auto"`, the path it chose in brackets); `contrastor compiled` is the',
        "same call under `torch.compile` (inductor), timed after its compilation, against the",
        "peers' eager calls. The ratios up to B = 4,096 come from one more process per loss and",
        "size that calls its methods in turn, round after round (twice the repetitions above,",
        "fewer, at least 3, where that would overrun two minutes), each turn a burst of 6",
        "calls of one method below B = 1,024 and of 2 from there, the first call of a burst",
        "untimed (it pays for the other methods' caches, not for the steady state of a training",
        "loop), medians of the timed calls; larger sizes use the separate cases.",
        "",
        "Command: `python benchmarks/run_all.py"
        + (" --quick" if args.quick else "")
        + " --out docs/benchmarks.md` (`make bench` installs the peers first)",
        "",
        "## contrastor's default call against the fastest peer",
        "",
        "| loss | batch B | dim d | path | contrastor (s) | fastest peer (s) | ratio "
        "| ratio, compiled | ratio to the peer on unit inputs | timed |",
        "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | --- |",
        *ratios(results, side_by_side(results, args.timeout)),
        "",
        *floor_target(results),
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
