"""The prepared GPU benchmark runs end to end (tiny sizes, CPU), so it is ready when a GPU is."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _load(name: str):
    path = Path(__file__).parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_benchmark_smoke_run(tmp_path):
    gpu = _load("gpu")
    text = gpu.main(["--smoke", "--device", "cpu", "--out", str(tmp_path / "gpu.md")])
    assert (tmp_path / "gpu.md").read_text() == text
    for name in ("CLIP", "SupCon", "SigLIP"):
        rows = [line for line in text.splitlines() if line.startswith(f"| {name} | exact |")]
        assert len(rows) == 2  # dense and tiled
        for row in rows:
            value_error = float(row.split("|")[4])
            assert value_error < 1e-3
    assert "| CLIP | contrastor | 256 | 16 |" in text
    assert "## Tile sweep" in text and "| 64 |" in text
