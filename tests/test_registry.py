"""The loss registry is the single source of what each loss is, and its claims hold."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import contrastor.functional as CF
from contrastor import losses as L
from contrastor.engine.output import ContrastiveOutput
from contrastor.losses.registry import LossSpec, lookup, names, register, specs, trainable
from contrastor.train.config import TrainConfig
from contrastor.train.objectives import Batch, build_objective


def test_names_are_unique_and_every_spelling_resolves():
    assert len(names()) == len(set(names())) == len(specs())
    for spec in specs():
        for spelling in (spec.name, spec.name.upper(), spec.name.replace("_", "-"), *spec.aliases):
            assert lookup(spelling) is spec
    assert lookup("NTXent").name == lookup("ntxent").name == "nt_xent"
    assert lookup("auc").name == "mann_whitney"
    with pytest.raises(ValueError, match=r"unknown loss 'nope'; registered: .*nt_xent"):
        lookup("nope")


def test_entries_name_their_exported_module_and_function():
    """A family file's ``__all__`` is the whole export: a loss added to a family (its
    function and its registered class) needs no other file."""
    for spec in specs():
        assert getattr(L, spec.module.__name__) is spec.module, spec.name
        assert spec.module.__name__ in L.__all__, spec.name
        if spec.function is not None:
            assert getattr(CF, spec.function.__name__) is spec.function, spec.name
            assert spec.function.__name__ in CF.__all__, spec.name
        assert any(ch.isdigit() for ch in spec.paper), spec.name
        assert spec.views[0] >= 2 and (spec.views[1] is None or spec.views[1] >= spec.views[0])


def test_unfit_losses_say_why():
    unfit = {s.name for s in specs() if s.feed is None}
    assert unfit == {
        "z_loss",
        "cwcl",
        "listwise_wasserstein",
        "listnet",
        "hierarchical_supcon",
        "supremix",
        "conr",
        "margin_mse",
        "distill_kl",
        "hierarchical_contrastive",
        "one_to_k",
        "semantic_anchors",
        "anchor_alignment",
        "mixup_contrastive",
        "orthogonal_shared_unique",
        "simctg",
        "proto_nce",
        "gated_pair_contrast",
        "proxy_contrast",
        "multilevel_supcon",
    }
    assert all(lookup(name).unfit for name in unfit)
    assert set(trainable()) == set(names()) - unfit


def test_a_name_cannot_be_registered_twice():
    spec = LossSpec(
        name="ntxent", title="again", inputs="", positives="", paper="2020", tiled=False
    )
    with pytest.raises(ValueError, match="already registered"):
        register(spec)(nn.Module)


def _objective(name: str, **config):
    spec = lookup(name)
    views = spec.views[0]
    cfg = TrainConfig(loss=name, embedding_dim=16, views=views, temperature=0.3, **config)
    torch.manual_seed(0)
    objective = build_objective(cfg, nn.Identity(), dataset_size=12).double()
    g = torch.Generator().manual_seed(1)
    z = [torch.randn(12, 16, generator=g, dtype=torch.float64) for _ in range(views)]
    batch = Batch(
        z=z, views=[x.clone() for x in z], labels=torch.arange(12) % 3, index=torch.arange(12)
    )
    return objective, batch


@pytest.mark.parametrize("name", [s.name for s in specs() if s.tiled and s.feed is not None])
def test_tiled_claim(name):
    """A loss the registry calls tiled gives the dense value on its tiled path."""
    dense, batch = _objective(name)
    tiled, _ = _objective(name)
    engines = [m for m in tiled.modules() if hasattr(m, "execution")]
    assert engines, f"{name} is registered as tiled but has no execution option"
    for module in engines:
        module.execution, module.tile_size = "tiled", 5
    values = []
    for objective in (tiled, dense):
        torch.manual_seed(2)  # the same mixing draws (MoCHi)
        values.append(objective.feed(objective, batch))
    torch.testing.assert_close(*values)


@pytest.mark.parametrize("name", trainable())
def test_per_sample_claim(name):
    """A per-sample loss returns one value per anchor and takes per-sample weights; the
    others are refused by the robust strategies (checked in the configuration)."""
    spec = lookup(name)
    objective, batch = _objective(name)
    if not spec.per_sample:
        with pytest.raises(ValueError, match="has none"):
            TrainConfig(loss=name, robust="loss_weight").validate()
        return
    fresh, _ = _objective(name)  # stateful losses: the same state for both calls
    weights = torch.ones(12, dtype=torch.float64)
    torch.manual_seed(2)
    output = objective.feed(objective, batch, weights=weights, return_output=True)
    assert isinstance(output, ContrastiveOutput), name
    assert output.per_anchor.shape[0] == 12 and torch.isfinite(output.loss), name
    torch.manual_seed(2)
    torch.testing.assert_close(output.loss, fresh.feed(fresh, batch))


def test_module_docstrings_say_what_users_look_for():
    """Each registered module's docstring gives its inputs and shapes, what counts as a
    positive, recommended settings, related losses and an example, in that order."""
    sections = ("Inputs:", "Positives:", "Settings:", "Related:", "Example:")
    for spec in specs():
        doc = spec.module.__doc__ or ""
        found = [doc.find(f"\n    {s}") for s in sections]
        assert -1 not in found and found == sorted(found), (spec.name, found)
