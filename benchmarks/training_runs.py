"""Shared by the learning benchmarks: run ``contrastor train`` in a subprocess with given
options, and keep results in a JSON-lines file so an interrupted sweep resumes."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def train_run(options: dict) -> dict:
    """One ``contrastor train`` run; returns the trained encoder's held-out kNN and linear
    probe accuracy, the wall time and the machine."""
    with tempfile.TemporaryDirectory() as out:
        args = [sys.executable, "-m", "contrastor", "train", "--out", out, "--no-progress"]
        for key, value in {"baselines": False, **options}.items():
            flag = key.replace("_", "-")
            if isinstance(value, bool):
                args.append(f"--{flag}" if value else f"--no-{flag}")
            else:
                args += [f"--{flag}", str(value)]
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{options} failed:\n{done.stderr[-2000:]}")
        results = json.loads((Path(out) / "results.json").read_text())
    trained = results["table"]["trained encoder"]
    kept = results["table"].get("trained encoder, kept labels")
    detector = results.get("noise", {}).get("detector", {})
    return {
        "knn": trained["knn_accuracy"],
        "probe": trained["linear_probe_accuracy"],
        **(
            {"knn_kept": kept["knn_accuracy"], "probe_kept": kept["linear_probe_accuracy"]}
            if kept
            else {}
        ),
        **({"detector_auroc": detector["auroc"]} if detector else {}),
        "seconds": round(seconds, 1),
        "options": options,
        "machine": machine(),
    }


def machine() -> str:
    """The CPU architecture, torch threads and torch version of this process."""
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


class Results:
    """Rows of a JSON-lines file, keyed by some of their fields."""

    def __init__(self, path: Path, keys: tuple[str, ...]) -> None:
        self.path, self.keys = path, keys

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def find(self, **key) -> list[dict]:
        """The rows whose key fields equal ``key``'s."""
        return [r for r in self.rows() if all(r.get(k) == key[k] for k in self.keys)]

    def has(self, **key) -> bool:
        return bool(self.find(**key))

    def add(self, row: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def latest_settings(rows: list[dict]) -> list[dict]:
    """The rows run with the settings of the latest row (older configurations stay in the
    file but leave the report)."""
    return [r for r in rows if r.get("settings") == rows[-1].get("settings")] if rows else []


def sd(values: list[float]) -> float:
    """The sample standard deviation over seeds (0 for a single seed)."""
    import statistics

    return statistics.stdev(values) if len(values) > 1 else 0.0


def mean_spread(values: list[float]) -> str:
    """``mean ± standard deviation (n=...)`` of a list of accuracies."""
    import statistics

    if not values:
        return "—"
    return f"{statistics.fmean(values):.4f} ± {sd(values):.4f} (n={len(values)})"


def seed_summary(rows: list[dict], metric: str) -> dict[tuple[str, float], dict[str, float]]:
    """(strategy, noise) -> mean and sd over seeds of ``metric`` (``mean``, ``sd``), the
    means of the row's other numeric metrics, and the seed count ``n``."""
    import statistics

    out = {}
    for key in {(r["strategy"], r["noise"]) for r in rows}:
        runs = [r for r in rows if (r["strategy"], r["noise"]) == key]
        values = [r[metric] for r in runs]
        numbers = [k for k, v in runs[0].items() if isinstance(v, float) and k != "noise"]
        out[key] = {k: statistics.fmean(r[k] for r in runs if k in r) for k in numbers}
        out[key].update(
            mean=statistics.fmean(values),
            sd=sd(values),
            n=len(runs),
        )
    return out
