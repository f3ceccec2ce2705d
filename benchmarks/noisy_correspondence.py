"""Noisy correspondence, fast: two "modalities" of one MNIST digit (its top half and its bottom
half, each with its own encoder), a share of the training pairs re-paired at random, and
cross-view retrieval Recall@1/5 on the clean test set, for plain symmetric InfoNCE and each
robust strategy; plus the AUROC of each detector against the true noisy-pair mask.

Strategies (all on the same symmetric InfoNCE, temperature 0.1):
  plain       the loss as is
  rince       RINCE (q = 0.5, lambda = 0.01) in both directions
  gmm_weight  per-pair weights = clean probability of a two-component mixture on each
              pair's mean training loss so far, refitted every epoch after a warm-up
  gmm_drop    the same, pairs below probability 0.5 left out
  retarget    soft re-targeting of suspected pairs with the same clean probability
  restart     the mixture fitted once at the end of the warm-up, then both encoders and the
              optimiser re-initialised and trained on the pairs above probability 0.5 for the
              remaining epochs (the same total budget): what the warm-up memorised is dropped
  oracle      only the truly clean pairs (the simulator's mask, from the first epoch): not a
              method but a reference for the strategies that leave pairs out

Detectors (scored once, at the end of the warm-up of the gmm_weight run): the mixture on the
loss history, the mixture on the current per-pair losses (each pair against the whole
training set), minus the loss history mean, and small-loss selection.

    python benchmarks/noisy_correspondence.py     # runs, resumable
    python benchmarks/noise_report.py             # docs/noise.md
    python benchmarks/noisy_correspondence.py --quick        # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

import contrastor.functional as CF
from contrastor.data.datasets import load_image_dataset
from contrastor.eval import embed_in_chunks, retrieval_metrics
from contrastor.noise import (
    LossHistory,
    clean_weights,
    detection_report,
    gmm_clean_probability,
    shuffle_pairs,
    small_loss_selection,
)
from contrastor.recipes.crossmodal import halves, two_towers
from contrastor.run.schedule import warmup_cosine

sys.path.insert(0, str(Path(__file__).parent))
from training_runs import Results, latest_settings, machine

RESULTS = Path(__file__).parent / "results" / "noise_correspondence.jsonl"

STRATEGIES = ("plain", "rince", "gmm_weight", "gmm_drop", "retarget", "restart", "oracle")
#: the strategies driven by the loss-history mixture
MIXTURE = ("gmm_weight", "gmm_drop", "retarget", "restart")
LEGEND = [
    "`plain`: symmetric InfoNCE on the pairs as given. `rince`: RINCE (q 0.5, lambda 0.01)."
    " `gmm_weight` / `gmm_drop`: after the warm-up, each pair weighted by (or, below 0.5,"
    " left out by) its clean probability from a two-component mixture on its mean loss so"
    " far, refitted every epoch (the `robust=loss_weight` / `loss_drop` options of the"
    " paired recipes). `retarget`: soft re-targeting of suspected pairs with that"
    " probability. `restart`: the mixture fitted once after the warm-up, then both encoders"
    " re-initialised and trained on the kept pairs for the remaining epochs (same total"
    " budget). `oracle`: only the truly clean pairs, a reference, not a method.",
]
TAU = 0.1


def embed(model: nn.Module, x: Tensor) -> Tensor:
    return embed_in_chunks(model, model, x)


@torch.no_grad()
def pair_losses(models: nn.ModuleList, top: Tensor, bottom: Tensor) -> Tensor:
    """Symmetric per-pair InfoNCE of every training pair against the whole training set."""
    a, b = embed(models[0], top), embed(models[1], bottom)
    forward = CF.info_nce(a, b, temperature=TAU, reduction="none")
    backward = CF.info_nce(b, a, temperature=TAU, reduction="none")
    return 0.5 * (forward + backward)


def history_score(history: LossHistory) -> Tensor:
    """Minus each pair's mean loss so far; pairs not drawn yet get the median score."""
    score = -history.mean()
    seen = history.seen()
    return torch.where(seen, score, score[seen].median())


def batch_loss(strategy: str, a: Tensor, b: Tensor, clean: Tensor | None, epoch: int, warmup: int):
    if strategy == "rince":
        return 0.5 * (
            CF.rince(a, b, temperature=TAU, q=0.5, lam=0.01)
            + CF.rince(b, a, temperature=TAU, q=0.5, lam=0.01)
        )
    if strategy == "oracle":
        return CF.info_nce(a, b, temperature=TAU, symmetric=True, weights=clean.to(a))
    if strategy == "plain" or clean is None or epoch < warmup:
        return CF.info_nce(a, b, temperature=TAU, symmetric=True)
    if strategy == "retarget":
        return CF.soft_retargeted_info_nce(a, b, clean, temperature=TAU)
    mode = "weight" if strategy == "gmm_weight" else "drop"  # gmm_drop and restart
    w = clean_weights(clean, epoch=epoch, warmup_epochs=warmup, mode=mode)
    return CF.info_nce(a, b, temperature=TAU, symmetric=True, weights=w.to(a))


def run(strategy: str, noise: float, args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    data = load_image_dataset("mnist", 0.2, args.seed)
    train, test = data.train_images[: args.train], data.test_images
    top, bottom = halves(train)
    corruption = shuffle_pairs(len(train), noise, generator=torch.Generator().manual_seed(7))
    bottom = corruption.apply(bottom)
    steps = len(train) // args.batch

    def fresh(epochs: int):
        models = two_towers(args.width, 64)
        optimizer = torch.optim.AdamW(models.parameters(), lr=2e-3, weight_decay=1e-4)
        return models, optimizer, warmup_cosine(optimizer, steps, epochs * steps)

    models, optimizer, scheduler = fresh(args.epochs)
    history = LossHistory(len(train))
    g = torch.Generator().manual_seed(args.seed)
    clean, detectors = None, {}
    if strategy == "oracle":
        clean = (~corruption.noisy).double()
    for epoch in range(args.epochs):
        # refitted every epoch after the warm-up; restart fits it once, at the end of it
        fit_now = epoch == args.warmup if strategy == "restart" else epoch >= args.warmup
        if strategy in MIXTURE and fit_now:
            clean = gmm_clean_probability(-history_score(history))
            if epoch == args.warmup and noise > 0:
                losses = pair_losses(models, top, bottom)
                detectors = {
                    "mixture on the loss history": detection_report(clean, corruption.noisy),
                    "mixture on current losses": detection_report(
                        gmm_clean_probability(losses), corruption.noisy
                    ),
                    "loss history mean": detection_report(history_score(history), corruption.noisy),
                    "small loss": detection_report(
                        small_loss_selection(losses, 1 - noise).double(), corruption.noisy
                    ),
                }
            if strategy == "restart":
                models, optimizer, scheduler = fresh(args.epochs - args.warmup)
        order = torch.randperm(len(train), generator=g)
        for s in range(steps):
            idx = order[s * args.batch : (s + 1) * args.batch]
            a, b = models[0](top[idx]), models[1](bottom[idx])
            c = None if clean is None else clean[idx]
            loss = batch_loss(strategy, a, b, c, epoch, args.warmup)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                per_pair = 0.5 * (
                    CF.info_nce(a, b, temperature=TAU, reduction="none")
                    + CF.info_nce(b, a, temperature=TAU, reduction="none")
                )
            history.update(idx, per_pair)
    if clean is not None and noise > 0 and strategy != "oracle":
        # the mixture as the strategy last used it (refitted every epoch on the history)
        detectors["mixture, last refit"] = detection_report(clean, corruption.noisy)
    qt, gt = halves(test)
    metrics = retrieval_metrics(embed(models[0], qt), embed(models[1], gt), ks=(1, 5))
    return {
        "strategy": strategy,
        "noise": noise,
        "recall@1": metrics["recall@1"],
        "recall@5": metrics["recall@5"],
        "detectors": detectors,
    }


def section(rows: list[dict]) -> list[str]:
    """The markdown table of Recall@1 / Recall@5 and the detectors' AUROC."""
    if not rows:
        return []
    rows = latest_settings(rows)
    first = rows[-1]["settings"]
    noises = sorted({r["noise"] for r in rows})
    clean = {r["strategy"]: r["recall@1"] for r in rows if r["noise"] == 0}
    base = clean.get("plain")
    lines = [
        "## 1. Noisy correspondence: MNIST top half vs bottom half",
        "",
        f"Two SmallCNN encoders (width {first['width']}), symmetric InfoNCE at temperature"
        f" {TAU}, {first['train']} training pairs, {first['epochs']} epochs, batch"
        f" {first['batch']}, warm-up {first['warmup']} epochs, seed {first['seed']};"
        " Recall@1 / Recall@5 of top-half queries against the 1,000 clean test bottom halves"
        " (chance: 0.001 / 0.005). In brackets: Recall@1 as a share of plain InfoNCE on clean"
        f" pairs. Machine: {rows[0]['machine']}. Reproduce:"
        " `python benchmarks/noisy_correspondence.py` (resumable), then"
        " `python benchmarks/noise_report.py`.",
        "",
        "| strategy | " + " | ".join(f"{int(100 * n)}% shuffled" for n in noises) + " |",
        "| --- |" + " --- |" * len(noises),
    ]
    for strategy in STRATEGIES:
        cells = []
        for n in noises:
            r = next((x for x in rows if x["strategy"] == strategy and x["noise"] == n), None)
            if r is None and n == 0 and strategy == "oracle":
                r = next((x for x in rows if x["strategy"] == "plain" and x["noise"] == 0), None)
            if r is None:
                cells.append("—")
                continue
            kept = f" ({r['recall@1'] / base:.0%})" if base else ""
            cells.append(f"{r['recall@1']:.3f} / {r['recall@5']:.3f}{kept}")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    lines += ["", *LEGEND]
    scored = [r for r in rows if r["strategy"] == "gmm_weight" and r["detectors"]]
    if scored:
        names = list(scored[0]["detectors"])
        lines += [
            "",
            "Detectors against the true shuffled-pair mask, scored at the end of the warm-up"
            " (the last column: the mixture at its last refit, in the final epoch of the"
            " `gmm_weight` run); AUROC / precision at the true noise rate:",
            "",
            "| noise | " + " | ".join(names) + " |",
            "| --- |" + " --- |" * len(names),
        ]
        for r in sorted(scored, key=lambda x: x["noise"]):
            d = r["detectors"]
            cells = [f"{d[k]['auroc']:.3f} / {d[k]['precision']:.3f}" for k in names]
            lines.append(f"| {int(100 * r['noise'])}% | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noise", nargs="*", type=float, default=[0.0, 0.2, 0.4, 0.6, 0.8])
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, not recorded")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.warmup, args.train, args.batch, args.width = 2, 1, 256, 64, 4
        args.noise = [0.0, 0.4]
    settings = {k: getattr(args, k) for k in ("epochs", "warmup", "batch", "train", "width")}
    settings["seed"] = args.seed
    results = Results(RESULTS, ("strategy", "noise", "settings"))
    for noise in args.noise:
        for strategy in args.strategies:
            if strategy == "oracle" and noise == 0:
                continue  # the same run as plain
            if not args.quick and results.has(strategy=strategy, noise=noise, settings=settings):
                continue
            started = time.perf_counter()
            row = run(strategy, noise, args)
            row.update(settings=settings, seconds=round(time.perf_counter() - started, 1))
            row["machine"] = machine()
            if not args.quick:
                results.add(row)
            print(f"{strategy} {noise:.0%}: R@1 {row['recall@1']:.3f} R@5 {row['recall@5']:.3f}")


if __name__ == "__main__":
    main()
