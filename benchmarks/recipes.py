"""Full runs of every recipe (``contrastor train --recipe NAME`` with the options below) and
``docs/recipes.md`` built from them. Each run's table, wall time and machine are appended to
``benchmarks/results/recipes.jsonl`` (resumable: a recorded run is not repeated).

    python benchmarks/recipes.py                 # every run not recorded yet
    python benchmarks/recipes.py --runs tabular-wine timeseries
    python benchmarks/recipes.py --report        # docs/recipes.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from training_runs import Results, machine

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "recipes.jsonl"
#: run name -> (recipe, options given on the command line)
RUNS: dict[str, tuple[str, dict[str, str]]] = {
    "text": ("text", {}),
    "simcse": ("simcse", {}),
    "timeseries": ("timeseries", {}),
    "tabular-wine": ("tabular", {"dataset": "wine"}),
    "tabular-breast_cancer": ("tabular", {"dataset": "breast_cancer"}),
    "recommendation": ("recommendation", {}),
    "crossmodal-clip": ("crossmodal", {"loss": "clip"}),
    "crossmodal-siglip": ("crossmodal", {"loss": "siglip"}),
}
TITLES = {
    "text": "Text retrieval: docstring to code, MiniLM fine-tuned",
    "simcse": "Text, unsupervised: SimCSE dropout views",
    "timeseries": "Time series: UCR/UEA classification sets",
    "tabular-wine": "Tabular: wine",
    "tabular-breast_cancer": "Tabular: breast cancer",
    "recommendation": "Recommendation: MovieLens-100k",
    "crossmodal-clip": "Cross-modal pairs: MNIST top half vs bottom half, CLIP loss",
    "crossmodal-siglip": "Cross-modal pairs: MNIST top half vs bottom half, SigLIP loss",
}


def command(run: str) -> list[str]:
    recipe, options = RUNS[run]
    args = ["contrastor", "train", "--recipe", recipe]
    for key, value in options.items():
        args += ["--set", f"{key}={value}"]
    return args


def sweep(runs: list[str]) -> None:
    results = Results(RESULTS, ("run",))
    for run in runs:
        if results.has(run=run):
            continue
        with tempfile.TemporaryDirectory() as out:
            args = [sys.executable, "-m", *command(run), "--out", out, "--no-progress"]
            started = time.perf_counter()
            done = subprocess.run(args, capture_output=True, text=True)
            seconds = round(time.perf_counter() - started, 1)
            if done.returncode != 0:
                raise RuntimeError(f"{run} failed:\n{done.stderr[-3000:]}")
            payload = json.loads((Path(out) / "results.json").read_text())
        row = {"run": run, "table": payload["table"], "config": payload["config"]}
        row.update(notes=payload.get("notes", []), seconds=seconds, machine=machine())
        results.add(row)
        print(f"{run}: {seconds:.0f} s")


def _table(table: dict[str, dict[str, float]]) -> list[str]:
    columns = list(dict.fromkeys(k for row in table.values() for k in row))
    lines = ["| | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for name, row in table.items():
        cells = [f"{row[c]:.4f}" if c in row else "-" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def report(path: Path) -> None:
    rows = {r["run"]: r for r in Results(RESULTS, ()).rows()}
    lines = [
        "# Recipes",
        "",
        "One end-to-end job per kind of data: `contrastor train --recipe NAME` (the options of",
        "each: `contrastor recipes`). Every figure below is the held-out evaluation of one full",
        "run with the default options, recorded by `python benchmarks/recipes.py` and written",
        "here by `python benchmarks/recipes.py --report`; the wall time is that of the run on",
        "the machine named, beside other jobs.",
    ]
    for run, title in TITLES.items():
        row = rows.get(run)
        lines += ["", f"## {title}", "", f"`{' '.join(command(run))}`", ""]
        if row is None:
            lines.append("Not run yet.")
            continue
        lines += _table(row["table"])
        notes = " ".join(row.get("notes", []))
        lines += ["", f"{notes} {row['seconds'] / 60:.1f} min on {row['machine']}.".strip()]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "recipes.md")
    args = parser.parse_args()
    if args.report:
        report(args.out)
    else:
        sweep(args.runs)


if __name__ == "__main__":
    main()
