"""Full runs of every recipe (``contrastor train --recipe NAME`` with the options below) and
``docs/recipes.md`` built from them. Each run's table, wall time and machine are appended to
``benchmarks/results/recipes.jsonl`` (resumable: a recorded run is not repeated).

    python benchmarks/recipes.py                 # every run not recorded yet
    python benchmarks/recipes.py --runs tabular-wine timeseries
    python benchmarks/recipes.py --runs text --seeds 1   # one seed (e.g. runs side by side)
    python benchmarks/recipes.py --report        # docs/recipes.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from contrastor.data.timeseries import TEST_SIZES
from contrastor.eval import mcnemar, mcnemar_floor
from contrastor.run.page import METRIC_NAMES
from svm_folds import section as svm_folds_section
from training_runs import Results, machine, mean_spread, sd

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "recipes.jsonl"
#: run name -> (recipe, options given on the command line, seeds)
KIT = "in_batch,hard_negatives,windowed,matryoshka,distill"
#: the text miner's settings tried on the validation split (one seed each): run -> options
SELECTION: dict[str, dict[str, str]] = {
    "text-val-top": {"methods": "in_batch,hard_negatives"},
    "text-val-w3-30-m0.05": {"methods": "windowed", "window": "3,30", "margin": "0.05"},
    "text-val-w3-30-m0": {"methods": "windowed", "window": "3,30", "margin": "0"},
    "text-val-w0-30-m0.05": {"methods": "windowed", "window": "0,30", "margin": "0.05"},
}
#: the Matryoshka head, its learning-rate multiplier, the dimensions' weights and the
#: full-to-prefix self-distillation tried on the validation split
#: the Matryoshka setting every selection run starts from (no self-distillation: the
#: settings were compared before it existed, and the "kd" runs add it)
_MRL = {"methods": "matryoshka", "matryoshka_distill": "0"}
#: the chosen setting (four trained blocks, self-distillation 1), which later runs build on
_MRL_CHOSEN = {
    **_MRL,
    "matryoshka_head": "pca",
    "head_lr_scale": "1",
    "matryoshka_distill": "1",
    "trainable_layers": "4",
}
HEAD_SELECTION: dict[str, dict[str, str]] = {
    "text-val-mrl-none": {**_MRL, "matryoshka_head": "none"},
    "text-val-mrl-pca-1": {**_MRL, "matryoshka_head": "pca", "head_lr_scale": "1"},
    "text-val-mrl-pca-10": {**_MRL, "matryoshka_head": "pca", "head_lr_scale": "10"},
    **{
        f"text-val-mrl-pca-1-w{w}": {
            **_MRL,
            "matryoshka_head": "pca",
            "head_lr_scale": "1",
            "matryoshka_weights": f"1,1,{w},{w}",
        }
        for w in (2, 4)
    },
    **{
        f"text-val-mrl-pca-1-kd{kd}": {
            **_MRL,
            "matryoshka_head": "pca",
            "head_lr_scale": "1",
            "matryoshka_distill": kd,
        }
        for kd in ("1", "4")
    },
    **{
        f"text-val-mrl-pca-1-kd{kd}-l{layers}": {
            **_MRL,
            "matryoshka_head": "pca",
            "head_lr_scale": "1",
            "matryoshka_distill": kd,
            "trainable_layers": layers,
        }
        for kd, layers in (("1", "4"), ("2", "4"), ("1", "6"))
    },
    "text-val-mrl-pca-1-e2": {
        **_MRL,
        "matryoshka_head": "pca",
        "head_lr_scale": "1",
        "epochs": "2",
    },
    "text-val-mrl-pca-1-kd1-l4-w2": {**_MRL_CHOSEN, "matryoshka_weights": "1,1,2,2"},
    "text-val-mrl-pca-1-kd1-l4-e2": {**_MRL_CHOSEN, "epochs": "2"},
    **{
        f"text-val-mrl-pca-1-kd1-l4-t{name}": {**_MRL_CHOSEN, "matryoshka_temperatures": t}
        for name, t in (("07", "0.05,0.05,0.07,0.07"), ("10", "0.05,0.06,0.08,0.1"))
    },
    "text-val-mrl-pca-1-kd1-l4-d7": {**_MRL_CHOSEN, "matryoshka_dims": "384,256,128,96,64,48,32"},
    **{
        f"text-val-mrl-pca-1-kd1-l4-kt{t}": {**_MRL_CHOSEN, "matryoshka_distill_temperature": t}
        for t in ("0.1", "0.2")
    },
    **{
        f"text-val-mrl-pca-1-kd1-l4-b{size}": {**_MRL_CHOSEN, "batch_size": size}
        for size in ("64", "128")
    },
    **{
        f"text-val-mrl-pca-1-kd1-l4-lr{lr}": {**_MRL_CHOSEN, "lr": lr} for lr in ("2e-05", "0.0001")
    },
}
#: SimGCL's and XSimGCL's contrastive weight lambda tried on the validation split, at the
#: published noise (epsilon 0.1) and temperature (0.2), each early-stopped on validation
REC_SELECTION: dict[str, dict[str, str]] = {
    f"rec-val-{method}-{weight}": {"methods": method, "cl_weight": weight, "epochs": "200"}
    for method in ("simgcl", "xsimgcl")
    for weight in ("0.001", "0.005", "0.02", "0.1", "0.5")
}
RUNS: dict[str, tuple[str, dict[str, str], tuple[int, ...]]] = {
    **{
        run: ("text", {**o, "report": "validation"}, (0,))
        for run, o in {**SELECTION, **HEAD_SELECTION}.items()
    },
    **{
        run: ("recommendation", {**o, "report": "validation"}, (0,))
        for run, o in REC_SELECTION.items()
    },
    "text": (
        "text",
        {"methods": KIT, "matryoshka_head": "none", "matryoshka_distill": "0"},
        (0, 1, 2),
    ),
    "text-matryoshka": ("text", {"methods": "matryoshka"}, (0, 1, 2)),
    "text-matryoshka-l4": ("text", {"methods": "matryoshka", "trainable_layers": "4"}, (0, 1, 2)),
    "text-matryoshka-no-distill": (
        "text",
        {"methods": "matryoshka", "matryoshka_distill": "0"},
        (0, 1, 2),
    ),
    "text-mnrl": ("text", {"methods": "mnrl,mnrl_mined"}, (0, 1, 2)),
    "simcse": ("simcse", {}, (0, 1, 2)),
    "timeseries": (
        "timeseries",
        {"average": "false", "weight_decay": "0.0001", "lr_decay": "cosine"},
        (0, 1, 2),
    ),
    "timeseries-average": ("timeseries", {"baselines": "false", "lr_decay": "cosine"}, (0, 1, 2)),
    "timeseries-constant": ("timeseries", {"baselines": "false", "lr_decay": "none"}, (0, 1, 2)),
    "timeseries-cv": (
        "timeseries",
        {
            "baselines": "false",
            "candidates": "mask=0.25;mask=0.75;iterations=600",
            "lr_decay": "cosine",
        },
        (0, 1, 2),
    ),
    "timeseries-cv-exact": (
        "timeseries",
        {
            "datasets": "arrowhead,italy_power_demand",
            "baselines": "false",
            "candidates": "mask=0.25;mask=0.75;iterations=600",
            "lr_decay": "cosine",
        },
        (0, 1, 2),
    ),
    "timeseries-cv-constant": (
        "timeseries",
        {
            "datasets": "arrowhead",
            "baselines": "false",
            "candidates": "mask=0.25;mask=0.75;iterations=600",
        },
        (0, 1, 2),
    ),
    "tabular-wine": ("tabular", {"dataset": "wine"}, (0, 1, 2, 3, 4)),
    "tabular-breast_cancer": ("tabular", {"dataset": "breast_cancer"}, (0, 1, 2, 3, 4)),
    **{
        f"tabular-{name}-{pct}pct": (
            "tabular",
            {"dataset": name, "label_fraction": str(pct / 100)},
            (0, 1, 2, 3, 4),
        )
        for name in ("wine", "breast_cancer")
        for pct in (5, 10)
    },
    "recommendation": ("recommendation", {"epochs": "200"}, (0, 1, 2)),
    "crossmodal-clip": ("crossmodal", {"loss": "clip"}, (0, 1, 2)),
    "crossmodal-siglip": ("crossmodal", {"loss": "siglip"}, (0, 1, 2)),
    "images-bundled": ("image", {"dataset": "digits"}, (0, 1, 2)),
    "images-folder": ("image", {"data": "digits_png/"}, (0, 1, 2)),
}
#: run -> a section written after its own (what its table leaves open)
AFTER = {"timeseries-cv-exact": svm_folds_section}
#: folders some runs read, written before the runs from bundled data
FOLDERS = {"digits_png/": "the 1,797 scikit-learn digits as 8x8 PNG files, one folder per class"}
TITLES = {
    "text": "Text retrieval: docstring to code, MiniLM fine-tuned with the retrieval kit",
    "text-matryoshka": "Text retrieval: Matryoshka through a principal-axes head, "
    "with self-distillation, two trained blocks (the earlier validation choice)",
    "text-matryoshka-l4": "Text retrieval: Matryoshka through a principal-axes head, "
    "with self-distillation, four trained blocks (the validation choice)",
    "text-matryoshka-no-distill": "Text retrieval: Matryoshka through a principal-axes head, "
    "without self-distillation (the previous default)",
    "text-mnrl": "Text retrieval: sentence-transformers' MNRL and its miner (same data, budget)",
    "simcse": "Text, unsupervised: SimCSE dropout views",
    "timeseries": "Time series: UCR/UEA classification sets, TS2Vec's last iterate "
    "(before the weight average), with the reference rows",
    "timeseries-average": "Time series: TS2Vec with its weight average and weight decay 0.01"
    " but the learning rate decayed along a cosine, encoder rows (the reference rows are in the"
    " table above)",
    "timeseries-constant": "Time series: TS2Vec as published (weight average, weight decay"
    " 0.01, the authors' constant learning rate), with the per-series predictions recorded",
    "timeseries-cv": "Time series: TS2Vec with the masking rate and the budget chosen per "
    "set by leave-one-out 1-NN on its training split",
    "timeseries-cv-exact": "Time series: the two sets the counts above leave unsettled against"
    " the raw series, as in that run, with the per-series predictions recorded (exact McNemar)",
    "timeseries-cv-constant": "Time series: ArrowHead, the masking rate and the budget chosen"
    " on its training split as above, at the authors' constant learning rate",
    "tabular-wine": "Tabular: wine",
    "tabular-breast_cancer": "Tabular: breast cancer",
    **{
        f"tabular-{name}-{pct}pct": f"Tabular, low-label: {title}, probes on {pct}% of the labels"
        for name, title in (("wine", "wine"), ("breast_cancer", "breast cancer"))
        for pct in (5, 10)
    },
    "recommendation": "Recommendation: MovieLens-100k",
    "crossmodal-clip": "Cross-modal pairs: MNIST top half vs bottom half, CLIP loss",
    "crossmodal-siglip": "Cross-modal pairs: MNIST top half vs bottom half, SigLIP loss",
    "images-bundled": "Images: scikit-learn digits, bundled (in memory)",
    "images-folder": "Images from a folder: the same digits as PNG files (`--data`)",
}


def write_digits_png(folder: Path) -> Path:
    """Every scikit-learn digit as an 8-bit grey PNG in ``folder/<digit>/``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    for k, (image, label) in enumerate(zip(x, y, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = (image.reshape(8, 8) * 255 / 16).round().astype("uint8")
        Image.fromarray(pixels).save(folder / str(label) / f"{k:04d}.png")
    return folder


def command(run: str, seed: int | None = None, folders: dict[str, Path] | None = None) -> list[str]:
    """The command of a run; ``folders`` maps the folder names of :data:`FOLDERS` to where
    they were written (the names stay in the command shown)."""
    recipe, options, _ = RUNS[run]
    args = ["contrastor", "train", "--recipe", recipe]
    for key, value in options.items():
        args += ["--set", f"{key}={(folders or {}).get(value, value)}"]
    return args if seed is None else [*args, "--seed", str(seed)]


def sweep(runs: list[str], seeds: list[int] | None = None) -> None:
    """Every seed of each run not recorded yet (``seeds``: only those of them)."""
    results = Results(RESULTS, ("run", "seed"))
    with tempfile.TemporaryDirectory() as scratch:
        folders = {"digits_png/": write_digits_png(Path(scratch) / "digits_png")}
        for run in runs:
            _sweep_run(run, results, folders, seeds)


def _sweep_run(
    run: str, results: Results, folders: dict[str, Path], seeds: list[int] | None
) -> None:
    for seed in RUNS[run][2]:
        if results.has(run=run, seed=seed) or (seeds is not None and seed not in seeds):
            continue
        with tempfile.TemporaryDirectory() as out:
            args = [sys.executable, "-m", *command(run, seed, folders), "--out", out]
            args.append("--no-progress")
            started = time.perf_counter()
            done = subprocess.run(args, capture_output=True, text=True)
            seconds = round(time.perf_counter() - started, 1)
            if done.returncode != 0:
                raise RuntimeError(f"{run} failed:\n{done.stderr[-3000:]}")
            payload = json.loads((Path(out) / "results.json").read_text())
        row = {"run": run, "seed": seed, "table": payload["table"], "config": payload["config"]}
        row.update(notes=payload.get("notes", []), seconds=seconds, machine=machine())
        if "correct" in payload:
            row["correct"] = payload["correct"]
        results.add(row)
        print(f"{run} seed {seed}: {seconds:.0f} s")


def _table(tables: list[dict[str, dict[str, float]]]) -> list[str]:
    """Rows x metrics; with several seeds, mean ± standard deviation."""
    first = tables[0]
    columns = list(dict.fromkeys(k for row in first.values() for k in row))
    heads = [METRIC_NAMES.get(c, c) for c in columns]
    lines = ["| | " + " | ".join(heads) + " |", "| --- |" + " --- |" * len(columns)]
    for name in first:
        cells = []
        for c in columns:
            values = [t[name][c] for t in tables if c in t.get(name, {})]
            if len(values) > 1:
                cells.append(f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}")
            else:
                cells.append(f"{values[0]:.4f}" if values else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def report(path: Path) -> None:
    rows = Results(RESULTS, ()).rows()
    lines = [
        "# Recipes",
        "",
        "One end-to-end job per kind of data: `contrastor train --recipe NAME` (the options of",
        "each: `contrastor recipes`). Every figure below is the held-out evaluation of full",
        "runs of the command shown (mean ± standard deviation where several seeds ran),",
        "recorded by `python benchmarks/recipes.py` and written here by",
        "`python benchmarks/recipes.py --report`; the wall time is the longest run on the",
        "machine named. Runs with 2 threads had the two-core machine to themselves (the",
        "budget of a full run: 15 minutes on 2 CPU cores); runs with 1 thread shared it",
        "with other benchmark jobs, so their times are upper bounds, and so are those of the",
        "time-series, Matryoshka and MNRL runs and the head selection, which ran three at a",
        "time on the two cores.",
    ]
    for selection in SELECTIONS:
        lines += _selection(rows, *selection)
    for run, title in TITLES.items():
        mine = sorted((r for r in rows if r["run"] == run), key=lambda r: r["seed"])
        seeds = ", ".join(str(r["seed"]) for r in mine)
        lines += ["", f"## {title}", "", f"`{shlex.join(command(run))} --seed S`", ""]
        used = [f"`{n}`: {what}." for n, what in FOLDERS.items() if n in " ".join(command(run))]
        lines += [*used, ""] if used else []
        if not mine:
            lines.append("Not run yet.")
            continue
        lines += _table([r["table"] for r in mine])
        lines += _kept([r["table"] for r in mine])
        lines += _series_targets([r["table"] for r in mine])
        lines += _paired(mine)
        if run in AGAINST:
            lines += _against([r["table"] for r in mine], *AGAINST[run])
        notes = " ".join(mine[0].get("notes", []))
        minutes = max(r["seconds"] for r in mine) / 60
        lines += [
            "",
            f"Seeds {seeds}. {notes} At most {minutes:.1f} min a run on {_machines(mine)}.",
        ]
        lines += AFTER[run]() if run in AFTER else []
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


#: run -> (the baseline row, the metric) each other trained row is compared with
AGAINST = {"recommendation": ("LightGCN + bpr", "recall@20")}


def _against(tables: list[dict[str, dict[str, float]]], base: str, metric: str) -> list[str]:
    """Each row's ``metric`` relative to row ``base``: the mean (and sd) over seeds of the
    per-seed change, next to the baseline's own spread as a share of its mean."""
    values = [t[base][metric] for t in tables]
    spread = sd(values) / statistics.fmean(values) if len(values) > 1 else 0.0
    parts = []
    for name in tables[0]:
        if name == base or not name.startswith(base.split(" + ")[0] + " + "):
            continue
        change = [100 * (t[name][metric] / t[base][metric] - 1) for t in tables]
        parts.append(f"{name} {statistics.fmean(change):+.1f}% ± {sd(change):.1f}")
    return [
        "",
        f"{metric} relative to `{base}` (per seed, then mean ± sd): {'; '.join(parts)}."
        f" The baseline's own spread over seeds is {100 * spread:.1f}% of its mean.",
    ]


def _direction(gaps: list[int]) -> str | None:
    """``ahead`` or ``behind`` when every seed's gap in correct series has that sign."""
    return "ahead" if min(gaps) > 0 else "behind" if max(gaps) < 0 else None


def _verdict(gaps: list[int], level: float) -> str:
    """The McNemar floor of the largest per-seed gap in correct series, and what it says."""
    floor = mcnemar_floor(0, max(abs(g) for g in gaps))
    if floor >= level:
        return f"{floor:.3g} (no difference)"
    if _direction(gaps):
        return f"{floor:.3g} (trained {_direction(gaps)}, unsettled)"
    return f"{floor:.3g} (mixed)"


def _exact(gaps: list[int], p_values: list[float], level: float) -> str:
    """Each seed's exact McNemar p-value of the paired predictions, and what they say."""
    shown = " / ".join(f"{p:.2g}" for p in p_values)
    settled = [g for g, p in zip(gaps, p_values, strict=True) if p < level]
    if not settled:
        return f"{shown} (no difference)"
    if len(settled) == len(gaps) and _direction(gaps):
        return f"{shown} (trained {_direction(gaps)})"
    return f"{shown} (a difference in {len(settled)} of {len(gaps)} seeds)"


def _paired(rows: list[dict], level: float = 0.05) -> list[str]:
    """For time-series runs: the trained encoder against the untrained one and the raw
    series, in test series won or lost per seed, with each seed's exact McNemar p-value
    where the run recorded its per-series predictions (``correct``), else the smallest
    p-value the largest of those gaps allows (at or above ``level``: no difference,
    whichever series each got right)."""
    tables = [r["table"] for r in rows]
    exact = all("correct" in r for r in rows)
    lines = []
    for name, size in TEST_SIZES.items():
        trained = f"{name}: trained encoder"
        if not all(trained in t for t in tables):
            continue
        for metric, protocol in (("nn_accuracy", "1-NN"), ("svm_accuracy", "SVM")):
            cells = []
            for reference in ("untrained encoder", "raw series"):
                key = f"{name}: {reference}"
                if not all(metric in t.get(key, {}) and metric in t[trained] for t in tables):
                    cells += ["-", "-"]
                    continue
                gaps = [round(size * (t[trained][metric] - t[key][metric])) for t in tables]
                if exact:
                    p_values = [
                        mcnemar(r["correct"][trained][metric], r["correct"][key][metric])
                        for r in rows
                    ]
                    verdict = _exact(gaps, p_values, level)
                else:
                    verdict = _verdict(gaps, level)
                cells += [" / ".join(f"{g:+d}" for g in gaps), verdict]
            lines.append(f"| {name} ({size}) | {protocol} | " + " | ".join(cells) + " |")
    if not lines:
        return []
    how = (
        f"each seed's exact McNemar p-value on the paired predictions (`contrastor.eval.mcnemar`;"
        f" below {level} in every seed and the same way: a difference; at or above it in every"
        " seed: no difference)"
        if exact
        else "the smallest exact McNemar p-value the largest gap allows whichever series each"
        f" got right (`contrastor.eval.mcnemar_floor`; at or above {level}: no difference; below"
        " it the counts alone cannot settle it, the paired predictions would)"
    )
    p = "p" if exact else "p ≥"
    return [
        "",
        "Trained against untrained encoder and raw series, in test series gained (+) or lost"
        f" (−) per seed, with {how}:",
        "",
        f"| set (test series) | protocol | vs untrained | {p} | vs raw | {p} |",
        "| --- | --- | --- | --- | --- | --- |",
        *lines,
    ]


#: (width, share): the share of the full width's MRR@10 a Matryoshka model's ``width``
#: leading dimensions are to keep
KEPT_TARGET = (64, 0.95)
#: each UCR/UEA set's target accuracy for the trained encoder under the better of the 1-NN
#: and SVM protocols, fixed with the evaluation protocol before the runs below
SERIES_TARGETS = {
    "gunpoint": 0.96,
    "arrowhead": 0.83,
    "italy_power_demand": 0.95,
    "japanese_vowels": 0.97,
}


def _against_target(values: list[float], target: float) -> str:
    """``values`` (one per seed) against ``target``: met, or how many points short and
    whether that is less than the seeds' spread (then: no difference)."""
    mean = statistics.fmean(values)
    if mean >= target:
        return "met"
    spread = sd(values)
    short = f"{100 * (target - mean):.1f} points short"
    if target - mean < spread:
        return f"{short}, less than the seeds' spread ({100 * spread:.1f}): no difference"
    return short


def _kept(tables: list[dict[str, dict[str, float]]], metric: str = "mrr@10") -> list[str]:
    """For rows ``NAME @ D dims``: the share of the full model's ``metric`` (row ``NAME``, or
    else its widest row) each width keeps, the mean over seeds of the per-seed ratios, and
    :data:`KEPT_TARGET` against the per-seed shares."""
    lines = []
    width, share = KEPT_TARGET
    for name in dict.fromkeys(k.split(" @ ")[0] for k in tables[0] if " @ " in k):
        rows = {
            int(k.split(" @ ")[1].split()[0]): k for k in tables[0] if k.startswith(name + " @ ")
        }
        full = name if name in tables[0] else rows.pop(max(rows))
        if not rows or not all(full in t and set(rows.values()) <= set(t) for t in tables):
            continue
        kept = {d: [t[rows[d]][metric] / t[full][metric] for t in tables] for d in rows}
        widths = sorted(rows, reverse=True)
        shares = " / ".join(f"{100 * statistics.fmean(kept[d]):.1f}%" for d in widths)
        line = f"{name}: {metric} kept at {'/'.join(map(str, widths))} dims: {shares} of `{full}`"
        if width in kept:
            each = ", ".join(f"{100 * k:.1f}%" for k in kept[width])
            verdict = _against_target(kept[width], share)
            line += f" (per seed at {width} dims: {each}; target {100 * share:g}%: {verdict})"
        lines.append(line + ".")
    return ["", *lines] if lines else []


def _series_targets(tables: list[dict[str, dict[str, float]]]) -> list[str]:
    """Each set of :data:`SERIES_TARGETS` with a trained encoder row: the protocol with the
    better mean against the set's target."""
    parts = []
    for name, target in SERIES_TARGETS.items():
        row = f"{name}: trained encoder"
        found = {
            metric: [t[row][metric] for t in tables]
            for metric in ("nn_accuracy", "svm_accuracy")
            if all(metric in t.get(row, {}) for t in tables)
        }
        if not found:
            continue
        metric = max(found, key=lambda m: statistics.fmean(found[m]))
        parts.append(
            f"{name} {METRIC_NAMES[metric]} {mean_spread(found[metric])} against"
            f" {target}: {_against_target(found[metric], target)}"
        )
    if not parts:
        return []
    return ["", "The trained encoder against each set's target: " + "; ".join(parts) + "."]


def _setting(options: dict[str, str]) -> str:
    if "cl_weight" in options:
        return f"lambda {options['cl_weight']}"
    if "window" in options:
        return f"window {options['window']}, margin {options['margin']}"
    if options.get("matryoshka_head") == "none":
        return "no head"
    if "matryoshka_head" in options:
        head = f"{options['matryoshka_head']} head at {options['head_lr_scale']}x the learning rate"
        dims = options.get("matryoshka_dims")
        weights = f"dims {dims}, " if dims else ""
        weights += f"weights {options.get('matryoshka_weights', 'equal' if dims else '1,1,1,1')}"
        distill = float(options.get("matryoshka_distill", "0"))
        distilled = f", self-distillation {distill:g}" if distill else ""
        if distill and "matryoshka_distill_temperature" in options:
            distilled += f" at temperature {options['matryoshka_distill_temperature']}"
        layers = (
            f", {options['trainable_layers']} trained blocks"
            if "trainable_layers" in options
            else ""
        )
        temperatures = options.get("matryoshka_temperatures")
        tau = f", temperatures {temperatures}" if temperatures else ""
        steps = f", batch {options['batch_size']}" if "batch_size" in options else ""
        steps += f", learning rate {options['lr']}" if "lr" in options else ""
        epochs = f"{options.get('epochs', '1')} epoch(s)"
        return f"{head}, {weights}{tau}{distilled}{layers}{steps}, {epochs}"
    return "top ranks"


#: what each recipe's validation split is
HELD = {
    "text": "15% of the training packages",
    "recommendation": "10% of each user's training interactions",
}
#: (runs, recipe, title, their flags, what they choose) of each validation-split selection
SELECTIONS = [
    (
        SELECTION,
        "text",
        "Text retrieval: the miner's settings",
        "--set methods=... --set window=a,b --set margin=m",
        "the windowed row with the best validation nDCG@10 gives the `window` and `margin` of "
        "the runs below",
    ),
    (
        HEAD_SELECTION,
        "text",
        "Text retrieval: the Matryoshka head and weights",
        "--set methods=matryoshka --set matryoshka_head=none|pca --set head_lr_scale=s "
        "[--set matryoshka_weights=w] [--set matryoshka_distill=k] [--set trainable_layers=b] "
        "[--set epochs=e] [--set matryoshka_temperatures=t] [--set matryoshka_dims=d] "
        "[--set matryoshka_distill_temperature=t] [--set batch_size=b] [--set lr=r]",
        "among the settings at the one-epoch budget of every other text row, the one with "
        "the best validation MRR@10 at 64 dimensions gives the defaults of the runs below, "
        "unless it leads by less than the test runs' spread at 64 dimensions (0.004): then it "
        "is no difference and the simpler setting (the paper's equal weights) stays. "
        "Self-distillation 1 leads the plain PCA head by 0.0055 and is the default since "
        "this comparison. Training four of MiniLM's six blocks instead of two leads that by "
        "0.042 at 64 dimensions (and 0.036 at full width); six blocks add nothing more "
        "(0.002 lower) and distillation 2 with four blocks leads distillation 1 by 0.001, no "
        "difference, so four blocks with distillation 1 are the Matryoshka setting of the "
        "runs below. On top of that setting, twice the weight on 64 and 32 dimensions "
        "(0.0017 lower at 64), two epochs (0.0086 lower), a temperature per width (0.0013 "
        "and 0.0053 lower), seven nested widths instead of four (0.0009 lower) and a "
        "softer self-distillation target (temperature 0.1 or 0.2 instead of the in-batch "
        "0.05: 0.0013 higher each, no difference; 0.2 raises the full width by 0.007, so "
        "the share 64 dimensions keep falls), a batch of 64 or 128 pairs instead of 32 "
        "(0.0005 and 0.0047 lower) and a learning rate of 2e-5 or 1e-4 instead of 5e-5 "
        "(0.0074 and 0.0068 lower) do not help either. The two-epoch rows are a "
        "budget, not a setting: they show what doubling the training does to each width",
    ),
    (
        REC_SELECTION,
        "recommendation",
        "Recommendation: SimGCL's and XSimGCL's lambda",
        "--set methods=simgcl|xsimgcl --set cl_weight=w --set epochs=200",
        "each method's lambda with the best validation Recall@20 is its `cl_weight` in the "
        "runs below (every run early-stopped on the same validation split). Both choose "
        "0.005, inside the grid (0.001 scores lower). From 0.02 up, every run peaks at its "
        "first scoring (epoch 5), below the most-popular floor, and falls from there: on "
        "this dense set BPR builds one shared (popularity) direction, which the uniformity "
        "term of the contrastive loss takes apart, and the propagated embeddings shrink "
        "until the fixed noise (epsilon 0.1) outweighs them: at lambda 0.1 SimGCL's users "
        "have a mean norm of 0.055 and a mean cosine of 0.04 to their mean direction, "
        "against 2.05 and 0.69 at lambda 0.001 (and BPR's 2.2-2.4 and 0.71-0.74 in the "
        "runs below, whose notes give each method's)",
    ),
]


def _selection(
    rows: list[dict],
    runs: dict[str, dict[str, str]],
    recipe: str,
    title: str,
    flags: str,
    choice: str,
) -> list[str]:
    """Settings of a recipe compared on its validation split (one table)."""
    chosen = [(run, r) for run in runs for r in rows if r["run"] == run]
    if not chosen:
        return []
    lines = [
        "",
        f"## {title}, chosen on the validation split",
        "",
        f"`contrastor train --recipe {recipe} --set report=validation {flags} --seed 0`: each "
        f"run is scored on a validation split carved from its training data ({HELD[recipe]};"
        f" never on the test data); {choice}.",
        "",
    ]
    table: dict[str, dict[str, float]] = {}
    for run, r in chosen:
        options = runs[run]
        for name, row in r["table"].items():
            if name in ("untrained model", "most popular items") and name in table:
                continue
            labelled = name not in ("untrained model", "most popular items") and (
                "window" in options or "matryoshka_head" in options or "cl_weight" in options
            )
            table[f"{name}: {_setting(options)}" if labelled else name] = row
    lines += _table([table])
    miners = [
        f"{_setting(runs[run])}: " + n.split("last epoch's miner: ")[1]
        for run, r in chosen
        for n in r.get("notes", [])
        if "miner" in n
    ]
    if miners:
        lines += [
            "",
            "The miner's rejections, per setting (one training epoch, one mining pass):",
            "",
        ]
        lines += [f"- {n}" for n in miners]
    minutes = max(r["seconds"] for _, r in chosen) / 60
    machines = _machines([r for _, r in chosen])
    lines += ["", f"Seed 0. At most {minutes:.1f} min a run on {machines}."]
    return lines


def _machines(rows: list[dict]) -> str:
    """The machines ``rows`` ran on (each once, in order)."""
    return " or ".join(dict.fromkeys(r["machine"] for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--seeds", nargs="*", type=int, help="only these of each run's seeds")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "recipes.md")
    args = parser.parse_args()
    if args.report:
        report(args.out)
    else:
        sweep(args.runs, args.seeds)


if __name__ == "__main__":
    main()
