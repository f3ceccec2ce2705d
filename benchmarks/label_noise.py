"""Label noise: supervised contrastive training on MNIST with 20, 40, 60% symmetric and 40%
class-dependent label flips, plain and with each robust strategy; kNN and linear-probe
accuracy on the clean test set, and the AUROC of the strategy's detector.

Every run is ``contrastor train --dataset mnist --loss supcon --label-noise F
--label-noise-kind K --robust S`` (defaults otherwise); results go to
``benchmarks/results/label_noise.jsonl`` (resumable); ``benchmarks/noise_report.py`` writes
the table into ``docs/noise.md``.

    python benchmarks/label_noise.py                    # runs (resumable)
    python benchmarks/noise_report.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from training_runs import Results, train_run

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "label_noise.jsonl"
NOISE = [(0.0, "symmetric"), (0.2, "symmetric"), (0.4, "symmetric"), (0.6, "symmetric")]
NOISE += [(0.4, "asymmetric")]
STRATEGIES = ("none", "loss_weight", "loss_drop", "knn_weight", "knn_drop")


def sweep(seed: int, epochs: int) -> None:
    results = Results(RESULTS, ("noise", "kind", "robust", "seed", "epochs"))
    for fraction, kind in NOISE:
        for robust in STRATEGIES if fraction > 0 else ("none",):
            key = {
                "noise": fraction,
                "kind": kind,
                "robust": robust,
                "seed": seed,
                "epochs": epochs,
            }
            if results.has(**key):
                continue
            options = {
                "dataset": "mnist",
                "loss": "supcon",
                "epochs": epochs,
                "label_noise": fraction,
                "label_noise_kind": kind,
                "robust": robust,
                "seed": seed,
            }
            row = {**key, **train_run(options)}
            results.add(row)
            print(f"{fraction:.0%} {kind} {robust}: kNN {row['knn']:.4f} probe {row['probe']:.4f}")


def _cell(runs: list[dict]) -> str:
    if not runs:
        return "—"
    r = runs[0]
    auroc = f" (AUROC {r['detector_auroc']:.3f})" if r.get("detector_auroc") else ""
    return f"{r['knn']:.3f} / {r['probe']:.3f}{auroc}"


def section(rows: list[dict]) -> list[str]:
    """The markdown table of kNN / linear-probe accuracy with each detector's AUROC."""
    if not rows:
        return []
    columns = [(f, k) for f, k in NOISE if any(r["noise"] == f and r["kind"] == k for r in rows)]
    epochs = sorted({r["epochs"] for r in rows})
    clean = next((r for r in rows if r["noise"] == 0), None)
    lines = [
        "## 3. Label noise: SupCon on MNIST",
        "",
        "`contrastor train --dataset mnist --loss supcon --epochs"
        f" {'/'.join(map(str, epochs))} --label-noise F --label-noise-kind K --robust S`"
        " (defaults otherwise: batch 256, temperature 0.2, seed 0); kNN / linear-probe accuracy"
        " on the clean held-out labels, and in brackets the AUROC of the strategy's detector"
        " against the flipped labels, scored when the strategy starts (after"
        " `--robust-warmup 2` epochs). `none` is plain SupCon on the noisy labels. Machine:"
        f" {rows[0]['machine']}. Reproduce: `python benchmarks/label_noise.py` (resumable),"
        " then `python benchmarks/noise_report.py`.",
        "",
        "| strategy | " + " | ".join(f"{int(100 * f)}% {k}" for f, k in columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for robust in STRATEGIES:
        cells = []
        for f, k in columns:
            if f == 0:
                cells.append(_cell([clean] if clean else []))
            else:
                key = (f, k, robust)
                cells.append(
                    _cell([r for r in rows if (r["noise"], r["kind"], r["robust"]) == key])
                )
        lines.append(f"| {robust} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`loss_*`: clean probability from a two-component mixture on each sample's mean loss"
        " so far; `knn_*`: agreement of a sample's label with its 10 nearest neighbours in the"
        " current embedding; `*_weight` weights each sample's loss by that probability,"
        " `*_drop` leaves out samples below 0.5; refreshed every epoch after the warm-up."
        " Asymmetric noise flips 2→7, 3→8, 5↔6 and 7→1 (the digit confusions of Patrini et"
        " al., CVPR 2017), so the other classes stay clean.",
    ]
    return lines + _asymmetric_finding(rows, clean)


def _asymmetric_finding(rows: list[dict], clean: dict | None) -> list[str]:
    """How far the best strategy stays from clean under 40% asymmetric noise, and how well
    the detectors find those flips compared with symmetric ones."""
    asym = [r for r in rows if r["kind"] == "asymmetric" and r["robust"] != "none"]
    sym = [
        r for r in rows if (r["noise"], r["kind"]) == (0.4, "symmetric") and r["robust"] != "none"
    ]
    if not clean or not asym or not sym:
        return []
    best = max(asym, key=lambda r: r["knn"])

    def span(runs: list[dict]) -> str:
        scores = [r["detector_auroc"] for r in runs if r.get("detector_auroc")]
        return f"{min(scores):.2f}–{max(scores):.2f}" if scores else "—"

    return [
        "",
        f"At 40% asymmetric noise the best strategy (`{best['robust']}`) stays"
        f" {100 * (clean['knn'] - best['knn']):.1f} points of kNN accuracy below clean: the"
        " flips are consistent within a class (a share of the 2s all become 7s), so many of a"
        " flipped sample's neighbours carry the same wrong label, and the detectors separate"
        f" them less well (AUROC {span(asym)},"
        f" against {span(sym)} at 40% symmetric noise).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    sweep(args.seed, args.epochs)


if __name__ == "__main__":
    main()
