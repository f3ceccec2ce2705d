"""``contrastor bench``: how fast is a loss at a given size, and will it fit?"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastor.bench import peers as P
from contrastor.bench.measure import floor_step, time_with_floor
from contrastor.losses.registry import lookup

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: the peers' losses for the catalogue names they implement: (label, loader)
PEERS: dict[str, list[tuple[str, Callable]]] = {
    "clip": [("open_clip ClipLoss", lambda t, c: P.open_clip_loss(t))],
    "siglip": [("open_clip SigLipLoss", lambda t, c: P.open_clip_siglip(t, -10.0))],
    "nt_xent": [
        ("lightly NTXentLoss", lambda t, c: P.lightly_ntxent(t)),
        ("pytorch-metric-learning NTXentLoss", lambda t, c: P.pml_ntxent(t)),
    ],
    "dcl": [("lightly DCLLoss", lambda t, c: P.lightly_dcl(t))],
    "supcon": [("pytorch-metric-learning SupConLoss", lambda t, c: P.pml_supcon(t, c))],
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time and peak memory of a loss at a given size",
        description=(
            "Time one forward + backward of a catalogue loss on random embeddings of the given "
            "size, with its peak extra memory and the ratio to the matrix-product floor (the "
            "6 n m d flops of its products alone, called in turn with it); --peers adds the "
            "losses of other libraries that implement it, when installed. Losses are fed as "
            "contrastor train feeds them: two views (or modalities) of a batch of B samples, "
            "with class labels for the supervised ones."
        ),
        epilog="Example: contrastor bench --loss clip --batch 65536 --dim 768 --dtype bf16 "
        "--device cuda --peers",
    )
    parser.add_argument(
        "--loss",
        default="clip",
        metavar="NAME",
        help="registry name of a loss the image task trains (default: clip); see docs/losses.md",
    )
    parser.add_argument("--batch", type=int, default=4096, help="samples B (default: 4096)")
    parser.add_argument("--dim", type=int, default=128, help="embedding size d (default: 128)")
    parser.add_argument(
        "--dtype",
        choices=tuple(DTYPES),
        default="fp32",
        help="dtype of the embeddings (default: fp32)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument(
        "--execution",
        choices=("auto", "dense", "tiled"),
        default="auto",
        help="engine path (default: auto)",
    )
    parser.add_argument("--tile-size", type=int, default=None, help="tile edge of the tiled path")
    parser.add_argument("--temperature", type=float, default=0.1, help="tau (default: 0.1)")
    parser.add_argument(
        "--classes",
        type=int,
        default=1000,
        help="classes of the labels of supervised losses (default: 1000)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (default: 3)")
    parser.add_argument("--peers", action="store_true", help="time the peers' losses beside")
    parser.set_defaults(run=run)


def _objective(args: argparse.Namespace) -> tuple[Callable, int, int]:
    """The loss as ``contrastor train`` builds it, its feed, and the score-matrix shape."""
    from contrastor.train.config import TrainConfig
    from contrastor.train.objectives import Batch, build_objective

    spec = lookup(args.loss)
    views = spec.views[0]
    config = TrainConfig(
        loss=args.loss, temperature=args.temperature, embedding_dim=args.dim, views=views
    )
    objective = build_objective(config, nn.Identity(), args.batch).to(args.device)
    for module in objective.modules():
        if hasattr(module, "execution"):
            module.execution, module.tile_size = args.execution, args.tile_size
    labels = torch.arange(args.batch, device=args.device) % args.classes
    index = torch.arange(args.batch, device=args.device)

    def call(z: list[Tensor]) -> Tensor:
        return objective(Batch(z=z, views=[x.detach() for x in z], labels=labels, index=index))

    anchors = args.batch if spec.pairwise else views * args.batch
    return call, anchors, views


def _row(
    name: str, seconds: float | None, extra: float | None, ratio: float | None, note: str
) -> str:
    if seconds is None:
        return f"| {name} | {note} | | |"
    return f"| {name} | {seconds:.4f} | {ratio:.2f} | {extra / 2**20:.0f} |"


def run(args: argparse.Namespace) -> int:
    entry = lookup(args.loss)
    if entry.feed is None:
        raise ValueError(f"loss {entry.name!r} has no image-task feed to time: {entry.unfit}")
    if args.batch < 2 or args.dim < 1 or args.repeats < 1:
        raise ValueError("--batch must be at least 2, --dim and --repeats positive")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA device here")
    dtype = DTYPES[args.dtype]
    call, anchors, views = _objective(args)
    g = torch.Generator(device=device).manual_seed(0)
    z = [
        torch.randn(args.batch, args.dim, generator=g, device=device, dtype=dtype).requires_grad_(
            True
        )
        for _ in range(views)
    ]
    rows = []

    def step(fn: Callable[[list[Tensor]], Tensor]) -> Callable[[], None]:
        def go() -> None:
            fn(z).backward()
            for x in z:
                x.grad = None

        return go

    floor = floor_step(anchors, anchors, args.dim, device, dtype)

    def measured(go: Callable[[], None]) -> tuple[float, int, float]:
        timing, ratio = time_with_floor(go, floor, device, args.repeats, args.repeats)
        return timing.seconds, timing.extra_bytes, ratio

    label = f"contrastor {entry.api.split(' / ')[0]} ({args.execution})"
    rows.append(_row(label, *measured(step(call)), ""))
    if args.peers:
        for name, load in PEERS.get(entry.name, []):
            peer = load(args.temperature, args.classes)
            if peer is None:
                rows.append(_row(name, None, None, None, "not installed"))
                continue
            unit = [F.normalize(x.detach(), dim=1).requires_grad_(True) for x in z]

            def peer_step(_: list[Tensor], peer=peer, unit=unit) -> Tensor:
                return peer(unit[0], unit[1])

            try:
                rows.append(_row(name, *measured(step(peer_step)), ""))
            except (RuntimeError, MemoryError) as exc:
                rows.append(_row(name, None, None, None, f"failed: {str(exc)[:80]}"))
        if entry.name not in PEERS:
            rows.append(f"| (no peer implements {entry.name}) | | | |")
    print(
        f"{entry.title}: B = {args.batch:,}, d = {args.dim}, {args.dtype}, {device}, "
        f"{anchors:,} x {anchors:,} scores; x GEMM floor: time over that of the "
        f"{anchors:,} x {anchors:,} x {args.dim} products alone, called in turn"
    )
    print("| method | time (s) | x GEMM floor | extra peak memory (MiB) |")
    print("| --- | ---: | ---: | ---: |")
    print("\n".join(rows))
    if device.type == "cpu" and len(rows) > 1:
        print(
            "CPU memory is the growth of this process's peak, which the first row sets: later "
            "rows are lower bounds (benchmarks/run_all.py gives each case its own process)."
        )
    return 0
