"""Per-epoch metrics to CSV, JSON and (when installed) TensorBoard."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """Keeps the run's history and rewrites ``metrics.csv``/``metrics.json`` in ``folder``
    after each epoch (no files without a folder)."""

    def __init__(
        self,
        folder: Path | None,
        history: list[dict[str, Any]] | None = None,
        tensorboard: bool = True,
    ) -> None:
        self.folder = folder
        self.history: list[dict[str, Any]] = list(history or [])
        self.writer = None
        if not tensorboard or folder is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(folder / "tensorboard"))
        except (ImportError, ModuleNotFoundError):
            self.writer = None

    def add(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, row["epoch"])
            self.writer.flush()
        self.write()

    def write(self) -> None:
        if not self.history or self.folder is None:
            return
        fields = list(dict.fromkeys(k for row in self.history for k in row))
        with open(self.folder / "metrics.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.history)
        (self.folder / "metrics.json").write_text(json.dumps(self.history, indent=1))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
