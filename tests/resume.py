"""Kill a recipe mid-run and resume it: the check that a run's checkpoints are exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from contrastor.recipes import Recipe, run_recipe
from contrastor.run.loop import Loop


class Crash(Exception):
    """The simulated kill."""


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def assert_resumes_exactly(
    recipe: Recipe, settings: dict[str, Any], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run ``recipe`` straight, then kill a second run at its last step (inside its last
    training loop when it has several) and resume it: the weights and history must equal."""
    original = Loop.train_step
    calls: list[int] = []
    crash_at = 0

    def counting(loop: Loop, batch: torch.Tensor) -> float:
        calls.append(loop.step)
        if crash_at and len(calls) == crash_at:
            raise Crash
        return original(loop, batch)

    monkeypatch.setattr(Loop, "train_step", counting)
    straight = run_recipe(recipe, folder / "straight", progress=False, **settings)
    crash_at, total = len(calls) - 1, len(calls)
    calls.clear()
    with pytest.raises(Crash):
        run_recipe(recipe, folder / "killed", progress=False, checkpoint_every=2, **settings)
    calls.clear()
    crash_at = 0
    resumed = run_recipe(
        recipe, folder / "killed", progress=False, resume=True, checkpoint_every=2, **settings
    )
    assert 0 < len(calls) < total, "the resumed run started again from the beginning"
    a, b = weights(straight.folder), weights(resumed.folder)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    losses = [row["loss"] for row in straight.result.history]
    assert [row["loss"] for row in resumed.result.history] == losses
