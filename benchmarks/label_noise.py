"""Label noise: supervised contrastive training on MNIST with 20, 40, 60% symmetric and 40%
class-dependent label flips, plain and with each robust strategy; kNN and linear-probe
accuracy on the clean test set (a strategy's fitted on the samples it keeps), and the AUROC
of the strategy's detector.

Every run is ``contrastor train --dataset mnist --loss supcon --label-noise F
--label-noise-kind K --robust S`` (defaults otherwise); results go to
``benchmarks/results/label_noise.jsonl`` (resumable); ``benchmarks/noise_report.py`` writes
the table into ``docs/noise.md``.

    python benchmarks/label_noise.py --choose      # k on validation, then 3 seeds (resumable)
    python benchmarks/label_noise.py --choose --columns 0.4:asymmetric --strategies knn_drop
    python benchmarks/noise_report.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from training_runs import Results, sd, train_run

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "label_noise.jsonl"
NOISE = [(0.0, "symmetric"), (0.2, "symmetric"), (0.4, "symmetric"), (0.6, "symmetric")]
NOISE += [(0.4, "asymmetric")]
#: strategy -> its ``--robust`` option; ``posthoc`` ones train plainly (the warm-up lasts the
#: whole run) and keep only the samples their detector passes at the end
STRATEGIES = {
    "none": {},
    "posthoc_knn": {"robust": "knn_drop", "posthoc": True},
    "loss_weight": {"robust": "loss_weight"},
    "loss_drop": {"robust": "loss_drop"},
    "knn_weight": {"robust": "knn_weight"},
    "knn_drop": {"robust": "knn_drop"},
    "loss_unlabel": {"robust": "loss_unlabel"},
    "knn_unlabel": {"robust": "knn_unlabel"},
    "posthoc_margin": {"robust": "knn_margin_drop", "posthoc": True},
    "knn_margin_drop": {"robust": "knn_margin_drop"},
}
#: the evaluation of every strategy row: kNN and probe fitted on the samples it keeps
KEPT = "kept labels"
#: the detector's neighbours tried on the validation split for every ``knn`` strategy
NEIGHBOURS = (10, 20, 50)
DEFAULT_K = 10
#: the training budget of the table (longer runs are reported beside it)
EPOCHS = 10


def _knn(robust: str) -> bool:
    return STRATEGIES[robust].get("robust", "").startswith("knn")


def normalised(rows: list[dict]) -> list[dict]:
    """Rows with the fields earlier runs left implicit: the split scored (``test``) and, for
    ``knn`` strategies, the detector's neighbours (10)."""
    out = []
    for r in rows:
        r = {"report": "test", **r}
        if r["robust"] in STRATEGIES and _knn(r["robust"]):
            r.setdefault("robust_k", DEFAULT_K)
        out.append(r)
    return out


class Runs:
    """The recorded runs, and each new one trained once (resumable)."""

    def __init__(self, epochs: int) -> None:
        self.results, self.epochs = Results(RESULTS, ()), epochs

    def get(self, fraction: float, kind: str, robust: str, seed: int, **extra) -> dict:
        key = {"noise": fraction, "kind": kind, "robust": robust, "seed": seed}
        key |= {"epochs": self.epochs, "report": "test", **extra}
        if robust != "none":
            key["evaluation"] = KEPT
        for row in normalised(self.results.rows()):
            if all(row.get(k) == v for k, v in key.items()):
                return row
        options = {
            "dataset": "mnist",
            "loss": "supcon",
            "epochs": self.epochs,
            "label_noise": fraction,
            "label_noise_kind": kind,
            "seed": seed,
            "report": key["report"],
        }
        strategy = STRATEGIES[robust]
        if strategy:
            options["robust"] = strategy["robust"]
            if strategy.get("posthoc"):
                options["robust_warmup"] = self.epochs
            if "robust_k" in key:
                options["robust_k"] = key["robust_k"]
        row = key | train_run(options)
        self.results.add(row)
        kept = f" kept kNN {row['knn_kept']:.4f}" if "knn_kept" in row else ""
        print(f"{key}: kNN {row['knn']:.4f}{kept}", flush=True)
        return row


def validation_scores(rows: list[dict], fraction: float, kind: str, robust: str) -> dict:
    """Neighbours -> kept-label kNN accuracy on the validation split, of the runs made."""
    return {
        r["robust_k"]: r["knn_kept"]
        for r in normalised(rows)
        if r["report"] == "validation"
        and (r["noise"], r["kind"], r["robust"]) == (fraction, kind, robust)
    }


def chosen_k(rows: list[dict], fraction: float, kind: str, robust: str) -> int | None:
    """The detector's neighbours with the best kept-label kNN accuracy on the validation
    split (seed 0), once every candidate has run."""
    scores = validation_scores(rows, fraction, kind, robust)
    if set(scores) != set(NEIGHBOURS):
        return None
    return max(NEIGHBOURS, key=lambda k: (scores[k], -k))


def sweep(
    seeds: list[int],
    epochs: int,
    columns: list[tuple[float, str]],
    names: list[str],
    choose: bool,
) -> None:
    runs = Runs(epochs)
    for fraction, kind in columns:
        for robust in names if fraction > 0 and choose else []:
            if _knn(robust):
                for k in NEIGHBOURS:
                    runs.get(fraction, kind, robust, 0, report="validation", robust_k=k)
    for seed in seeds:
        for fraction, kind in columns:
            for robust in names if fraction > 0 else ["none"]:
                extra = {}
                if _knn(robust):
                    k = chosen_k(runs.results.rows(), fraction, kind, robust)
                    extra["robust_k"] = k if k is not None else DEFAULT_K
                runs.get(fraction, kind, robust, seed, **extra)


def current(rows: list[dict]) -> list[dict]:
    """The test rows of the current protocol: plain runs, and strategy runs scored on their
    kept labels (earlier strategy rows, scored on every noisy label, leave the report),
    ``knn`` strategies at the neighbours chosen on validation where a choice was made."""
    rows = normalised(rows)
    choices = {
        key: chosen_k(rows, *key)
        for key in {(r["noise"], r["kind"], r["robust"]) for r in rows if _knn(r["robust"])}
    }
    out = []
    for r in rows:
        if r["report"] != "test":
            continue
        if r["robust"] == "none":
            out.append(r)
        elif r.get("evaluation") == KEPT:
            k = choices.get((r["noise"], r["kind"], r["robust"]))
            if k is None or r["robust_k"] == k:
                out.append(r)
    return out


def _stat(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{statistics.fmean(values):.3f} ± {sd(values):.3f}"


def _runs(rows: list[dict], fraction: float, kind: str, robust: str) -> list[dict]:
    robust = "none" if fraction == 0 else robust
    return [r for r in rows if (r["noise"], r["kind"], r["robust"]) == (fraction, kind, robust)]


def _kept(r: dict, metric: str) -> float:
    return r.get(f"{metric}_kept", r[metric])


def section(rows: list[dict]) -> list[str]:
    """Mean ± sd over seeds of kNN / probe accuracy fitted on the kept labels, with each
    detector's AUROC; then the same encoders scored on every (noisy) training label."""
    recorded, every_row = current(rows), rows
    rows = [r for r in recorded if r["epochs"] == EPOCHS]
    if not rows:
        return []
    columns = [(f, k) for f, k in NOISE if _runs(rows, f, k, "none")]
    head = "| strategy | " + " | ".join(f"{int(100 * f)}% {k}" for f, k in columns) + " |"
    rule = "| --- |" + " --- |" * len(columns)

    def table(cell) -> list[str]:
        lines = [head, rule]
        for robust in STRATEGIES:
            cells = [cell(_runs(rows, f, k, robust)) for f, k in columns]
            if any(c != "—" for c in cells[1:]):
                lines.append(f"| {robust} | " + " | ".join(cells) + " |")
        return lines

    def kept(runs: list[dict]) -> str:
        if not runs:
            return "—"
        aurocs = [r["detector_auroc"] for r in runs if r.get("detector_auroc")]
        auroc = f" (AUROC {statistics.fmean(aurocs):.3f})" if aurocs else ""
        knn = _stat([_kept(r, "knn") for r in runs])
        probe = _stat([_kept(r, "probe") for r in runs])
        return f"{knn} / {probe}{auroc} n={len(runs)}"

    def every(runs: list[dict]) -> str:
        if not runs:
            return "—"
        return f"{_stat([r['knn'] for r in runs])} / {_stat([r['probe'] for r in runs])}"

    return [
        "## 3. Label noise: SupCon on MNIST",
        "",
        f"`contrastor train --dataset mnist --loss supcon --epochs {EPOCHS} --label-noise F"
        " --label-noise-kind K --robust S`"
        " (defaults otherwise: batch 256, temperature 0.2, `--robust-warmup 2`); mean ± sd"
        " over seeds (n) of kNN / linear-probe accuracy on the clean held-out labels. A"
        " strategy's kNN and probe are fitted on the training samples its detector keeps at"
        " the end (the `trained encoder, kept labels` row of `results.json`); `none` is plain"
        " SupCon scored on every noisy label; at 0% no label is flipped and every row repeats"
        " it (the strategies are not run there); a dash marks a run not made. In brackets the"
        " mean AUROC of the detector against the flipped labels, refreshed on the trained"
        " encoder. Nothing was chosen on the test split: every strategy runs at its defaults"
        " but for the kNN detectors' neighbourhood, chosen on validation (below). Machine:"
        f" {rows[-1]['machine']}. Reproduce: `python benchmarks/label_noise.py --choose`"
        " (resumable), then `python benchmarks/noise_report.py`.",
        "",
        *table(kept),
        "",
        "`posthoc_knn` / `posthoc_margin`: plain training, then the kNN detector once on the"
        " trained encoder (`--robust knn_drop` / `knn_margin_drop` with `--robust-warmup`"
        " equal to the epochs), the baselines any strategy has to beat. `knn_margin_*`: the"
        " label's share among the neighbours minus the most common other label's, so a"
        " sample is kept while its label is the most common around it, whatever the noise"
        " rate (the share alone drops clean samples once more than half a class is flipped)."
        " `loss_*`: clean probability from a two-component mixture on each"
        " sample's mean loss so far; `knn_*`: agreement of a sample's label with its 10 nearest"
        " neighbours in the current embedding; `*_weight` weights each sample's loss by that"
        " probability, `*_drop` leaves out samples below 0.5, `*_unlabel` keeps them in the"
        " loss but withholds their labels (each a positive only of its own views, so a"
        " suspect label pulls no other sample: the confident pairs of Sel-CL, Li et al., CVPR"
        " 2022); refreshed every epoch after the warm-up. Asymmetric noise flips 2→7, 3→8,"
        " 5↔6 and 7→1 (the digit confusions of Patrini et al., CVPR 2017), so the other"
        " classes stay clean.",
        "",
        *_choices(every_row),
        "The same encoders with kNN and probe fitted on every noisy training label (what the"
        " representation alone gives):",
        "",
        *table(every),
        *_longer(recorded),
    ]


def _longer(rows: list[dict]) -> list[str]:
    """Plain SupCon trained past the table's budget: whether it starts to memorise."""
    longer = [r for r in rows if r["epochs"] > EPOCHS and r["robust"] == "none"]
    clean = [r["knn"] for r in _runs(rows, 0.0, "symmetric", "none") if r["epochs"] == EPOCHS]
    if not longer or not clean:
        return []
    parts = [
        f"{int(100 * r['noise'])}% {r['kind']}, {r['epochs']} epochs, seed {r['seed']}:"
        f" kNN {r['knn']:.3f} / probe {r['probe']:.3f}"
        for r in sorted(longer, key=lambda r: (r["noise"], r["kind"], r["epochs"], r["seed"]))
    ]
    return [
        "",
        "Plain SupCon trained longer, to see whether it memorises the flipped labels (clean"
        f" labels, {EPOCHS} epochs: kNN {statistics.fmean(clean):.3f}): " + "; ".join(parts) + ".",
    ]


def _choices(rows: list[dict]) -> list[str]:
    """Which neighbourhood the validation split chose for each ``knn`` strategy."""
    made = []
    for fraction, kind in NOISE:
        for robust in STRATEGIES:
            if fraction > 0 and _knn(robust):
                k = chosen_k(rows, fraction, kind, robust)
                if k is None:
                    continue
                scores = validation_scores(rows, fraction, kind, robust)
                tried = ", ".join(
                    f"{'**' if n == k else ''}{n}: {scores[n]:.3f}{'**' if n == k else ''}"
                    for n in NEIGHBOURS
                )
                made.append(f"`{robust}` at {int(100 * fraction)}% {kind} ({tried})")
    if not made:
        return []
    return [
        "The `knn_*` detectors compare each label with its k nearest neighbours, k chosen"
        f" from {', '.join(map(str, NEIGHBOURS))} by kept-label kNN accuracy on a validation"
        " split of the training images (`--report validation`, seed 0; `--choose`; the"
        " validation accuracy of each k, the chosen one in bold): "
        + "; ".join(made)
        + ". Elsewhere k = 10.",
        "",
    ]


def _versus(best: list[float], other: list[float]) -> str:
    """``+x.x points`` of mean kNN accuracy, or ``no difference`` within the seed spread."""
    gain = 100 * (statistics.fmean(best) - statistics.fmean(other))
    spread = 100 * max(sd(best), sd(other))
    return f"{gain:+.1f} points" + (
        " (no difference: within the seed spread)" if abs(gain) <= spread else ""
    )


def summary(rows: list[dict]) -> list[str]:
    """The best strategy against plain SupCon and against the post-hoc filter, per noisy
    column, in kept-label kNN accuracy (the summary lines of ``docs/noise.md``)."""
    rows = [r for r in current(rows) if r["epochs"] == EPOCHS]
    lines = []
    clean = [r["knn"] for r in _runs(rows, 0.0, "symmetric", "none")]
    for fraction, kind in [(f, k) for f, k in NOISE if f > 0]:
        plain = [r["knn"] for r in _runs(rows, fraction, kind, "none")]
        scored = {
            name: [_kept(r, "knn") for r in _runs(rows, fraction, kind, name)]
            for name in STRATEGIES
            if name != "none"
        }
        filters = [v for k, v in scored.items() if v and k.startswith("posthoc")]
        posthoc = max(filters, key=statistics.fmean) if filters else []
        methods = {k: v for k, v in scored.items() if v and not k.startswith("posthoc")}
        if not plain or not methods:
            continue
        most = max(len(v) for v in methods.values())
        name, best = max(
            ((k, v) for k, v in methods.items() if len(v) == most),
            key=lambda kv: statistics.fmean(kv[1]),
        )
        gain = 100 * (statistics.fmean(best) - statistics.fmean(plain))
        target = f"; target +5: {'met' if gain >= 5 else 'missed'}" if fraction == 0.4 else ""
        text = (
            f"- Benchmark 3, {int(100 * fraction)}% {kind} label noise: the best strategy"
            f" (`{name}`, n={len(best)}, kNN and probe fitted on the labels it keeps) is"
            f" {_versus(best, plain)} of kNN accuracy against plain SupCon"
            f" (n={len(plain)}{target})"
        )
        if posthoc:
            text += (
                f", {_versus(best, posthoc)} against plain training filtered at the end (the"
                " better post-hoc filter"
            )
            text += f", n={len(posthoc)})"
        if clean and 100 * (statistics.fmean(clean) - statistics.fmean(plain)) < 5:
            room = 100 * (statistics.fmean(clean) - statistics.fmean(plain))
            text += (
                f"; clean labels are only {room:.1f} points above plain SupCon at this budget,"
                " so no strategy can gain 5"
            )
        lines.append(text + ".")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--columns",
        nargs="*",
        default=[f"{f}:{k}" for f, k in NOISE],
        help="noise columns as FRACTION:KIND (default: all)",
    )
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument(
        "--choose",
        action="store_true",
        help="first try each detector neighbourhood of NEIGHBOURS on the validation split",
    )
    args = parser.parse_args()
    columns = [(float(c.split(":")[0]), c.split(":")[1]) for c in args.columns]
    sweep(args.seeds, args.epochs, columns, args.strategies, args.choose)


if __name__ == "__main__":
    main()
