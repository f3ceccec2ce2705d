"""Noisy correspondence, fast: two "modalities" of one MNIST digit (its top half and its bottom
half, each with its own encoder), a share of the training pairs re-paired at random, and
cross-view retrieval Recall@1/5 on the clean test set, for plain symmetric InfoNCE and each
robust strategy; plus the AUROC of each detector against the true noisy-pair mask.

Strategies (all on the same symmetric InfoNCE, temperature 0.1):
  plain       the loss as is
  rince       RINCE (q tied to the temperature, q / tau = 1; lambda = 0.01) in both directions
  gmm_weight  per-pair weights = clean probability of a two-component mixture on each
              pair's mean training loss so far, refitted every epoch after a warm-up
  gmm_drop    the same, pairs below probability 0.5 left out
  retarget    soft re-targeting of suspected pairs with the same clean probability
  restart     the mixture fitted once at the end of the warm-up, then both encoders and the
              optimiser re-initialised and trained on the pairs above probability 0.5 for the
              remaining epochs (the same total budget): what the warm-up memorised is dropped
  co_divide   two pairs of encoders trained side by side, each on the pairs that the *other*
              one's loss-history mixture keeps (NCR-style co-divide,
              :class:`contrastor.noise.CoDivide`); retrieval on the mean of the two
              networks' cosines (twice the training compute of the others)
  oracle      only the truly clean pairs (the simulator's mask, from the first epoch): not a
              method but a reference for the strategies that leave pairs out; the target is
              stated against it

Detectors (scored once, at the end of the warm-up of the gmm_drop run): the mixture on the
loss history, the mixture on the current per-pair losses (each pair against the whole
training set), minus the loss history mean, and small-loss selection.

    python benchmarks/noisy_correspondence.py     # runs (3 seeds), resumable
    python benchmarks/noise_report.py             # docs/noise.md
    python benchmarks/noisy_correspondence.py --quick        # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

import contrastor.functional as CF
from contrastor.data.datasets import load_image_dataset
from contrastor.eval import embed_in_chunks, retrieval_metrics
from contrastor.noise import (
    CoDivide,
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
from training_runs import Results, latest_settings, machine, seed_summary

RESULTS = Path(__file__).parent / "results" / "noise_correspondence.jsonl"

STRATEGIES = (
    "plain",
    "rince",
    "gmm_weight",
    "gmm_drop",
    "retarget",
    "restart",
    "co_divide",
    "oracle",
)
#: the strategies run by default (the others on request)
DEFAULT = ("plain", "rince", "gmm_drop", "co_divide", "oracle")
#: the strategies driven by the loss-history mixture
MIXTURE = ("gmm_weight", "gmm_drop", "retarget", "restart")
LEGEND = [
    "`plain`: symmetric InfoNCE on the pairs as given. `rince`: RINCE (q tied to the"
    " temperature, q/tau = 1; lambda 0.01)."
    " `gmm_weight` / `gmm_drop`: after the warm-up, each pair weighted by (or, below 0.5,"
    " left out by) its clean probability from a two-component mixture on its mean loss so"
    " far, refitted every epoch (the `robust=loss_weight` / `loss_drop` options of the"
    " paired recipes). `retarget`: soft re-targeting of suspected pairs with that"
    " probability. `restart`: the mixture fitted once after the warm-up, then both encoders"
    " re-initialised and trained on the kept pairs for the remaining epochs (same total"
    " budget). `co_divide`: two networks trained side by side, each on the pairs kept by the"
    " other's mixture (NCR-style co-divide; twice the compute), scored on their mean cosine."
    " Its cells add the mean Recall@1 of each network on its own (like-for-like with the"
    " single-network rows). `oracle`: only the truly clean pairs, a reference, not a method.",
]
TAU = 0.1


def embed(model: nn.Module, x: Tensor) -> Tensor:
    return embed_in_chunks(model, model, x)


def embed_mean(towers: list[nn.Module], x: Tensor) -> Tensor:
    """Unit embeddings of several networks side by side, scaled so that the cosine of two
    such rows is the mean of the networks' cosines."""
    parts = [torch.nn.functional.normalize(embed(t, x), dim=1) for t in towers]
    return torch.cat(parts, dim=1) / len(towers) ** 0.5


def symmetric_losses(a: Tensor, b: Tensor) -> Tensor:
    """Each pair's symmetric InfoNCE against the batch (the mean of both directions)."""
    return CF.info_nce(a, b, temperature=TAU, symmetric=True, reduction="none")


@torch.no_grad()
def pair_losses(models: nn.ModuleList, top: Tensor, bottom: Tensor) -> Tensor:
    """Symmetric per-pair InfoNCE of every training pair against the whole training set."""
    return symmetric_losses(embed(models[0], top), embed(models[1], bottom))


def history_score(history: LossHistory) -> Tensor:
    """Minus each pair's mean loss so far; pairs not drawn yet get the median score."""
    score = -history.mean()
    seen = history.seen()
    return torch.where(seen, score, score[seen].median())


def batch_loss(strategy: str, a: Tensor, b: Tensor, clean: Tensor | None, epoch: int, warmup: int):
    if strategy == "rince":
        return CF.rince(a, b, temperature=TAU, lam=0.01, symmetric=True)
    if strategy == "oracle":
        return CF.info_nce(a, b, temperature=TAU, symmetric=True, weights=clean.to(a))
    if strategy == "plain" or clean is None or epoch < warmup:
        return CF.info_nce(a, b, temperature=TAU, symmetric=True)
    if strategy == "retarget":
        return CF.soft_retargeted_info_nce(a, b, clean, temperature=TAU)
    mode = "weight" if strategy == "gmm_weight" else "drop"  # gmm_drop and restart
    w = clean_weights(clean, epoch=epoch, warmup_epochs=warmup, mode=mode)
    return CF.info_nce(a, b, temperature=TAU, symmetric=True, weights=w.to(a))


def run(strategy: str, noise: float, seed: int, args: argparse.Namespace) -> dict:
    torch.manual_seed(seed)
    data = load_image_dataset("mnist", 0.2, seed)
    train, test = data.train_images[: args.train], data.test_images
    top, bottom = halves(train)
    corruption = shuffle_pairs(len(train), noise, generator=torch.Generator().manual_seed(7 + seed))
    bottom = corruption.apply(bottom)
    steps = len(train) // args.batch

    def fresh(epochs: int):
        models = two_towers(args.width, 64)
        optimizer = torch.optim.AdamW(models.parameters(), lr=2e-3, weight_decay=1e-4)
        return models, optimizer, warmup_cosine(optimizer, steps, epochs * steps)

    nets = [fresh(args.epochs) for _ in range(2 if strategy == "co_divide" else 1)]
    co = CoDivide(len(train), args.warmup) if strategy == "co_divide" else None
    history = LossHistory(len(train))
    g = torch.Generator().manual_seed(seed)
    clean, detectors = None, {}
    if strategy == "oracle":
        clean = (~corruption.noisy).double()
    for epoch in range(args.epochs):
        # refitted every epoch after the warm-up; restart fits it once, at the end of it
        fit_now = epoch == args.warmup if strategy == "restart" else epoch >= args.warmup
        if co is not None:
            co.refresh(epoch)
        if strategy in MIXTURE and fit_now:
            clean = gmm_clean_probability(-history_score(history))
            if epoch == args.warmup and noise > 0:
                losses = pair_losses(nets[0][0], top, bottom)
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
                nets = [fresh(args.epochs - args.warmup)]
        order = torch.randperm(len(train), generator=g)
        for s in range(steps):
            idx = order[s * args.batch : (s + 1) * args.batch]
            for k, (models, optimizer, scheduler) in enumerate(nets):
                a, b = models[0](top[idx]), models[1](bottom[idx])
                if co is None:
                    c = None if clean is None else clean[idx]
                    loss = batch_loss(strategy, a, b, c, epoch, args.warmup)
                else:
                    w = co.weights(k, idx).to(a)
                    loss = CF.info_nce(a, b, temperature=TAU, symmetric=True, weights=w)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                with torch.no_grad():
                    per_pair = symmetric_losses(a, b)
                if co is None:
                    history.update(idx, per_pair)
                else:
                    co.observe(k, idx, per_pair)
    if co is not None and noise > 0:
        detectors["mixture, last refit"] = detection_report(co.clean(0), corruption.noisy)
    elif clean is not None and noise > 0 and strategy != "oracle":
        # the mixture as the strategy last used it (refitted every epoch on the history)
        detectors["mixture, last refit"] = detection_report(clean, corruption.noisy)
    qt, gt = halves(test)
    towers = [models for models, _, _ in nets]
    queries = embed_mean([m[0] for m in towers], qt)
    gallery = embed_mean([m[1] for m in towers], gt)
    metrics = retrieval_metrics(queries, gallery, ks=(1, 5))
    row = {
        "strategy": strategy,
        "noise": noise,
        "seed": seed,
        "recall@1": metrics["recall@1"],
        "recall@5": metrics["recall@5"],
        "detectors": detectors,
    }
    if len(towers) > 1:  # each network alone, for a like-for-like comparison
        alone = [retrieval_metrics(embed(m[0], qt), embed(m[1], gt), ks=(1,)) for m in towers]
        row["recall@1 single"] = sum(a["recall@1"] for a in alone) / len(alone)
    return row


def summary(rows: list[dict]) -> dict[tuple[str, float], dict[str, float]]:
    """(strategy, noise) -> Recall@1 over seeds (``mean``, ``sd``, ``n``) and mean Recall@5;
    the oracle at 0% noise is plain's run."""
    out = seed_summary(rows, "recall@1")
    if ("plain", 0.0) in out:
        out.setdefault(("oracle", 0.0), out[("plain", 0.0)])
    return out


def section(rows: list[dict]) -> list[str]:
    """The markdown table of Recall@1 (mean ± sd over seeds) / Recall@5 and the detectors'
    AUROC."""
    rows = latest_settings([r for r in rows if "seed" in r])  # the seeded protocol's runs
    if not rows:
        return []
    first = rows[-1]["settings"]
    noises = sorted({r["noise"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    table = summary(rows)
    lines = [
        "## 1. Noisy correspondence: MNIST top half vs bottom half",
        "",
        f"Two SmallCNN encoders (width {first['width']}), symmetric InfoNCE at temperature"
        f" {TAU}, {first['train']} training pairs, {first['epochs']} epochs, batch"
        f" {first['batch']}, warm-up {first['warmup']} epochs, seeds"
        f" {', '.join(map(str, seeds))} (each seed also draws its own shuffled pairs);"
        " Recall@1 (mean ± sd over seeds) / Recall@5 (mean) of top-half queries against the"
        " 1,000 clean test bottom halves (chance: 0.001 / 0.005). In brackets: Recall@1 as a"
        " share of the oracle (training on the truly clean pairs only) at the same noise."
        " Nothing here was tuned on the test set: every setting is fixed in advance."
        f" Machine: {rows[0]['machine']}. Reproduce:"
        " `python benchmarks/noisy_correspondence.py` (resumable), then"
        " `python benchmarks/noise_report.py`.",
        "",
        "| strategy | " + " | ".join(f"{int(100 * n)}% shuffled" for n in noises) + " |",
        "| --- |" + " --- |" * len(noises),
    ]
    for strategy in STRATEGIES:
        if not any(k[0] == strategy for k in table):
            continue
        cells = []
        for n in noises:
            r, oracle = table.get((strategy, n)), table.get(("oracle", n))
            if r is None:
                cells.append("—")
                continue
            kept = f" ({r['mean'] / oracle['mean']:.0%})" if oracle else ""
            sd = f" ± {r['sd']:.3f}" if r["n"] > 1 else ""
            single = r.get("recall@1 single")
            alone = f"; one network {single:.3f}" if single is not None else ""
            cells.append(f"{r['mean']:.3f}{sd} / {r['recall@5']:.3f}{kept}{alone}")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    lines += ["", *LEGEND]
    scored = [r for r in rows if r["strategy"] == "gmm_drop" and r["detectors"]]
    if scored:
        names = [k for k in scored[0]["detectors"] if k != "mixture, last refit"]
        names.append("mixture, last refit")
        lines += [
            "",
            "Detectors against the true shuffled-pair mask, scored at the end of the warm-up"
            " (the last column: the mixture at its last refit, in the final epoch of the"
            " `gmm_drop` run); AUROC / precision at the true noise rate, mean over seeds:",
            "",
            "| noise | " + " | ".join(names) + " |",
            "| --- |" + " --- |" * len(names),
        ]
        for n in sorted({r["noise"] for r in scored}):
            at = [r["detectors"] for r in scored if r["noise"] == n]
            cells = [
                f"{statistics.fmean(d[k]['auroc'] for d in at):.3f} /"
                f" {statistics.fmean(d[k]['precision'] for d in at):.3f}"
                for k in names
            ]
            lines.append(f"| {int(100 * n)}% | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noise", nargs="*", type=float, default=[0.0, 0.2, 0.4, 0.6, 0.8])
    parser.add_argument("--strategies", nargs="*", default=list(DEFAULT), choices=STRATEGIES)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, not recorded")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.warmup, args.train, args.batch, args.width = 2, 1, 256, 64, 4
        args.noise, args.seeds = [0.0, 0.4], [0]
    settings = {k: getattr(args, k) for k in ("epochs", "warmup", "batch", "train", "width")}
    results = Results(RESULTS, ("strategy", "noise", "seed", "settings"))
    for noise in args.noise:
        for seed in args.seeds:
            for strategy in args.strategies:
                if strategy == "oracle" and noise == 0:
                    continue  # the same run as plain
                done = results.has(strategy=strategy, noise=noise, seed=seed, settings=settings)
                if not args.quick and done:
                    continue
                started = time.perf_counter()
                row = run(strategy, noise, seed, args)
                row.update(settings=settings, seconds=round(time.perf_counter() - started, 1))
                row["machine"] = machine()
                if not args.quick:
                    results.add(row)
                print(
                    f"{strategy} {noise:.0%} seed {seed}: R@1 {row['recall@1']:.3f}"
                    f" R@5 {row['recall@5']:.3f}"
                )


if __name__ == "__main__":
    main()
