"""LightGCN pieces of the recommendation recipe against dense computations."""

from __future__ import annotations

import pytest
import torch

from contrastor.models.graph import LightGCN, low_rank_factors, normalized_adjacency, perturb

EDGES = torch.tensor([[0, 0], [0, 2], [1, 1], [2, 2], [2, 3], [1, 3]])


def _dense_adjacency(users: int, items: int) -> torch.Tensor:
    a = torch.zeros(users + items, users + items, dtype=torch.float64)
    for u, i in EDGES.tolist():
        a[u, users + i] = a[users + i, u] = 1.0
    d = a.sum(1).clamp_min(1).rsqrt()
    return d[:, None] * a * d[None, :]


def test_normalized_adjacency_matches_the_dense_formula():
    got = normalized_adjacency(3, 4, EDGES).to_dense().double()
    assert torch.allclose(got, _dense_adjacency(3, 4), atol=1e-6)


def test_propagation_means_layers_with_or_without_the_input():
    torch.manual_seed(0)
    adjacency, dense = normalized_adjacency(3, 4, EDGES), _dense_adjacency(3, 4).float()
    for include_input in (True, False):
        model = LightGCN(3, 4, dim=5, layers=2, include_input=include_input)
        e0 = model.embedding.weight
        e1 = dense @ e0
        e2 = dense @ e1
        expected = (e0 + e1 + e2) / 3 if include_input else (e1 + e2) / 2
        final, layers = model(adjacency)
        assert torch.allclose(final, expected, atol=1e-5)
        assert torch.allclose(layers[0], e1, atol=1e-5)


def test_perturbation_keeps_signs_and_has_the_asked_norm():
    e = torch.randn(6, 4)
    out = perturb(e, 0.1, torch.Generator().manual_seed(1))
    delta = out - e
    assert torch.allclose(delta.norm(dim=1), torch.full((6,), 0.1), atol=1e-6)
    assert bool(((delta * e) >= 0).all())  # the noise points the way of each coordinate


def test_low_rank_view_propagates_over_the_rank_q_graph():
    torch.manual_seed(0)
    adjacency = normalized_adjacency(3, 4, EDGES)
    us, v = low_rank_factors(3, adjacency, rank=3)
    block = adjacency.to_dense()[:3, 3:]
    assert torch.allclose(us @ v.T, block, atol=1e-4)  # rank 3 of a 3 x 4 block is exact
    model = LightGCN(3, 4, dim=5, layers=1)
    e = model.embedding.weight
    expected = (e + torch.cat([block @ e[3:], block.T @ e[:3]])) / 2
    assert torch.allclose(model.low_rank_view((us, v), model(adjacency)[1]), expected, atol=1e-4)


def test_lightgcl_contrast_is_infonce_on_raw_inner_products_over_a_whole_side():
    from contrastor.recipes.recommendation import _global_contrast

    g = torch.Generator().manual_seed(3)
    view, main = torch.randn(9, 4, generator=g), torch.randn(9, 4, generator=g)
    nodes, start, stop, tau = torch.tensor([5, 3, 7]), 3, 9, 0.2
    got = _global_contrast(view.double(), main.double(), nodes, start, stop, tau)
    v, m = view.double(), main.double()
    terms = [
        -(v[i] @ m[i]) / tau + torch.logsumexp(m[start:stop] @ v[i] / tau, 0)
        for i in nodes.tolist()
    ]
    assert torch.allclose(got, torch.stack(terms).mean())


def test_recommendation_options_refuse_negative_weights():
    from contrastor.recipes import get_recipe, recipe_options

    with pytest.raises(ValueError, match="svd_weight must be >= 0"):
        recipe_options(get_recipe("recommendation"), {"svd_weight": -1.0})


def test_embedding_geometry_reads_norms_and_the_shared_direction():
    from contrastor.data.interactions import Interactions
    from contrastor.recipes.recommendation import embedding_geometry

    data = Interactions(3, 4, EDGES, EDGES[:1])
    torch.manual_seed(4)
    model = LightGCN(3, 4, dim=2, layers=1, include_input=False)
    z = (_dense_adjacency(3, 4).float() @ model.embedding.weight).detach()
    users, items = z[:3], z[3:]
    cosine = torch.nn.functional.cosine_similarity(users, users.mean(0, keepdim=True)).mean()
    got = embedding_geometry(model, data)
    assert got["user_norm"] == pytest.approx(float(users.norm(dim=1).mean()), rel=1e-5)
    assert got["item_norm"] == pytest.approx(float(items.norm(dim=1).mean()), rel=1e-5)
    assert got["user_mean_cosine"] == pytest.approx(float(cosine), rel=1e-5)
