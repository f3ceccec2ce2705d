"""Host-device syncs and torch.compile graph breaks of one loss call, as the number of tiles
grows: what a compiled or GPU training step pays for the loss besides its arithmetic.

Syncs are the sync-forcing ops the torch profiler sees in one forward + backward
(``contrastor.bench.measure.host_syncs``: ``_local_scalar_dense``, behind ``item()`` and
``bool(tensor)``, and ``nonzero``);
graphs and breaks come from
``torch._dynamo.explain`` on the forward.
"""

from __future__ import annotations

import torch

import contrastor.functional as CF
from contrastor._validation import validation
from contrastor.bench.measure import host_syncs

N, D = 256, 32


def _calls(labels: torch.Tensor) -> dict:
    return {
        "CLIP": lambda a, b, t: CF.info_nce(a, b, symmetric=True, execution="tiled", tile_size=t),
        "NT-Xent": lambda a, b, t: CF.nt_xent([a, b], execution="tiled", tile_size=t),
        "SupCon": lambda a, b, t: CF.supcon([a, b], labels, execution="tiled", tile_size=t),
        "SigLIP": lambda a, b, t: CF.siglip(a, b, execution="tiled", tile_size=t),
    }


def rows() -> list[str]:
    """Markdown rows: loss, tiles, syncs (checks on / off), graphs, graph breaks."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(N, D, generator=g, requires_grad=True)
    r = torch.randn(N, D, generator=g, requires_grad=True)
    labels = torch.randint(0, 10, (N,), generator=g)
    out = []
    for name, call in _calls(labels).items():
        for tile in (512, 64, 16):
            step = lambda call=call, tile=tile: call(q, r, tile).backward()  # noqa: E731
            on = host_syncs(step)
            with validation(False):
                off = host_syncs(step)
            torch._dynamo.reset()
            explained = torch._dynamo.explain(lambda a, b, c=call, t=tile: c(a, b, t))(q, r)
            blocks = (-(-anchors(name) // tile)) ** 2
            out.append(
                f"| {name} | {tile} | {blocks} | {on} | {off} | {explained.graph_count} "
                f"| {explained.graph_break_count} |"
            )
    return out


def anchors(name: str) -> int:
    return 2 * N if name in ("NT-Xent", "SupCon") else N


HEADER = [
    "| loss | tile | blocks | syncs per step | syncs, checks off | graphs | graph breaks |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
]

if __name__ == "__main__":
    print("\n".join(HEADER + rows()))
