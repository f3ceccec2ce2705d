"""Recommendation recipe: LightGCN on MovieLens-100k trained with BPR alone and with a
graph contrastive term — SimGCL (two noise-perturbed propagations), XSimGCL (the final
perturbed embedding against an intermediate perturbed layer) and LightGCL (the batch's nodes
in the rank-q SVD view against every node of the main view) — evaluated by Recall@K and
NDCG@K of each user's held-out items, with the training items excluded from the ranking;
most-popular items as the floor. ``data``: your own interactions file instead
(:func:`~contrastor.data.interactions.read_interactions`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

import contrastor.functional as CF
from contrastor.data.files import DataOptions
from contrastor.data.interactions import (
    Interactions,
    hold_out,
    load_movielens_100k,
    read_interactions,
)
from contrastor.models.graph import LightGCN, low_rank_factors, normalized_adjacency
from contrastor.recipes.base import Recipe, RecipeResult, check_report
from contrastor.recipes.loop import fit, merge_histories, shuffled_batches
from contrastor.run.early_stopping import EarlyStopping
from contrastor.run.loop import Loop, RunContext

METHODS = ("bpr", "simgcl", "xsimgcl", "lightgcl")


@dataclass
class RecommendationOptions(DataOptions):
    """``data``: a table of ``user``, ``item`` (and optional ``rating``, ``timestamp``;
    ``min_rating`` keeps the rows rated at least that) instead of MovieLens-100k;
    ``methods``: comma-separated from bpr, simgcl, xsimgcl, lightgcl; ``cl_weight``
    (lambda) scales the contrastive term of SimGCL and XSimGCL added to BPR, ``svd_weight``
    that of LightGCL; ``noise`` is SimGCL's epsilon; ``svd_rank`` LightGCL's q; ``reg`` the
    L2 penalty on the batch's input embeddings.

    Model selection never sees the test interactions: a ``validation_fraction`` of each
    user's training interactions is held out of the training graph; every ``eval_every``
    epochs the model is scored on it (Recall@``top_k``), the best weights are kept, and
    training stops after ``patience`` scorings without improvement (0: runs every epoch,
    still keeping the best). ``report=validation`` puts the validation scores in the table
    instead of the test ones, for choosing settings.

    ``cl_weight`` is 0.005, chosen for both methods on the validation split among 0.001 to
    0.5 (``docs/recipes.md``); the papers' 0.1-0.5 suit sparse sets. On MovieLens-100k,
    from 0.02 up, the uniformity of the contrastive term takes apart the shared popularity
    direction BPR builds and shrinks the propagated embeddings until the fixed noise
    ``eps`` outweighs them; each method's note gives the embeddings' norms and the users'
    mean cosine to their mean direction. LightGCL's term compares raw inner products (as
    its authors' code does), on the scale of BPR's scores."""

    methods: str = "bpr,simgcl,xsimgcl,lightgcl"
    epochs: int = 30
    batch_size: int = 2048
    lr: float = 1e-3
    temperature: float = 0.2
    cl_weight: float = 0.005
    svd_weight: float = 0.05
    noise: float = 0.1
    svd_rank: int = 5
    embedding_dim: int = 64
    layers: int = 2
    reg: float = 1e-4
    top_k: int = 20
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    eval_every: int = 5
    patience: int = 4
    report: str = "test"
    min_rating: float | None = None
    seed: int = 0

    def names(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]

    def validate(self) -> None:
        self.validate_data("interactions")
        if not self.names() or any(m not in METHODS for m in self.names()):
            raise ValueError(f"methods must be names from {list(METHODS)}, got {self.methods!r}")
        for name in ("cl_weight", "svd_weight", "noise", "reg", "patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.eval_every < 1 or not 0 < self.validation_fraction < 1:
            raise ValueError("eval_every must be >= 1 and validation_fraction in (0, 1)")
        check_report(self.report)


def ranking_metrics(scores: Tensor, data: Interactions, k: int) -> dict[str, float]:
    """Recall@k and NDCG@k (binary relevance) over users with held-out items; training
    items are excluded from each user's ranking."""
    scores = scores.clone()
    scores[data.train[:, 0], data.train[:, 1]] = -math.inf
    top = scores.topk(k, dim=1).indices
    relevant = torch.zeros_like(scores, dtype=torch.bool)
    relevant[data.test[:, 0], data.test[:, 1]] = True
    hits = relevant.gather(1, top).double()
    count = relevant.sum(1)
    users = count > 0
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    ideal = torch.cumsum(discount, 0)[(count.clamp(1, k) - 1)]
    recall = hits.sum(1) / count.clamp_min(1)
    ndcg = (hits * discount).sum(1) / ideal
    return {
        f"recall@{k}": float(recall[users].mean()),
        f"ndcg@{k}": float(ndcg[users].mean()),
    }


def _node_contrast(a: Tensor, b: Tensor, nodes: Tensor, tau: float) -> Tensor:
    return CF.info_nce(a[nodes], b[nodes], temperature=tau)


def _global_contrast(
    view: Tensor, main: Tensor, nodes: Tensor, start: int, stop: int, tau: float
) -> Tensor:
    """InfoNCE of the batch's (distinct) ``nodes`` in ``view`` against all nodes
    ``start:stop`` of the same side in ``main``, each node's own main embedding the positive,
    on raw inner products (LightGCL; Cai et al., "LightGCL: Simple Yet Effective Graph
    Contrastive Learning for Recommendation", ICLR 2023)."""
    side = torch.arange(start, stop)
    return CF.info_nce(
        view[nodes],
        main[start:stop],
        temperature=tau,
        labels=nodes,
        reference_labels=side,
        similarity="dot",
    )


def train_method(
    method: str,
    data: Interactions,
    options: RecommendationOptions,
    context: RunContext,
    source: str = "MovieLens-100k",
) -> tuple[LightGCN, list[dict[str, float]], dict[str, float]]:
    """One method's training on ``data.train``, early-stopped on ``data.test`` (the
    validation interactions); returns the best model, the history and where it stopped.
    Every step propagates the whole graph, so under ``torchrun`` each rank computes the whole
    batch's loss (the batch is not split) and the averaged gradients are those of one
    process."""
    torch.manual_seed(options.seed)
    noisy_views = method in ("simgcl", "xsimgcl")
    model = LightGCN(
        data.users, data.items, options.embedding_dim, options.layers, include_input=not noisy_views
    )
    adjacency = normalized_adjacency(data.users, data.items, data.train)
    factors = low_rank_factors(data.users, adjacency, options.svd_rank)
    users, tau, lam = data.users, options.temperature, options.cl_weight

    def step(index: Tensor, loop: Loop) -> Tensor:
        g = loop.generator
        u, pos = data.train[index, 0], data.train[index, 1]
        neg = torch.randint(data.items, (len(index),), generator=g)
        if method == "xsimgcl":
            z, layers = model(adjacency, options.noise, g)
        else:
            z, layers = model(adjacency)
        zu, zp, zn = z[u], z[users + pos], z[users + neg]
        bpr = -F.logsigmoid((zu * zp).sum(1) - (zu * zn).sum(1)).mean()
        e0 = model.embedding.weight
        reg = (
            options.reg
            * (
                e0[u].square().sum()
                + e0[users + pos].square().sum()
                + e0[users + neg].square().sum()
            )
            / len(index)
        )
        loss = bpr + reg
        if method == "bpr":
            return loss
        nodes_u, nodes_i = u.unique(), users + pos.unique()
        if method == "simgcl":
            a, _ = model(adjacency, options.noise, g)
            b, _ = model(adjacency, options.noise, g)
        elif method == "xsimgcl":
            a, b = z, layers[0]
        else:  # LightGCL: the batch's nodes against every node of their side
            view = model.low_rank_view(factors, layers)
            return loss + options.svd_weight * (
                _global_contrast(view, z, nodes_u, 0, users, tau)
                + _global_contrast(view, z, nodes_i, users, z.shape[0], tau)
            )
        cl = _node_contrast(a, b, nodes_u, tau) + _node_contrast(a, b, nodes_i, tau)
        return loss + lam * cl

    def validation() -> float:
        scores = user_item_scores(model, data)
        return ranking_metrics(scores, data, options.top_k)[f"recall@{options.top_k}"]

    stopper = EarlyStopping(
        model,
        validation,
        every=options.eval_every,
        patience=options.patience,
        last_epoch=options.epochs,
    )
    history = fit(
        {"model": model, "stopper": stopper},
        shuffled_batches(len(data.train), options.batch_size),
        step,
        epochs=options.epochs,
        lr=options.lr,
        weight_decay=0.0,
        warmup_epochs=0.0,
        seed=options.seed,
        context=context,
        label=f"{method} on {source}",
        end_epoch=stopper.end_epoch,
    )
    stopper.restore()
    return model, history, {**stopper.summary(), "epochs_run": len(history)}


@torch.no_grad()
def propagated(model: LightGCN, data: Interactions) -> tuple[Tensor, Tensor]:
    """The users' and the items' embeddings propagated over the graph of ``data.train``."""
    z, _ = model(normalized_adjacency(data.users, data.items, data.train))
    return z[: data.users], z[data.users :]


def user_item_scores(model: LightGCN, data: Interactions) -> Tensor:
    """Every user's score of every item, propagated over the graph of ``data.train``."""
    users, items = propagated(model, data)
    return users @ items.T


def embedding_geometry(model: LightGCN, data: Interactions) -> dict[str, float]:
    """How the propagated embeddings sit: the mean norm of users and of items, and the
    users' mean cosine to their mean direction (near 1: one shared direction, as BPR's
    popularity signal gives; near 0: spread out, as a uniformity term pushes them)."""
    users, items = propagated(model, data)
    mean = F.normalize(users.mean(0), dim=0)
    return {
        "user_norm": float(users.norm(dim=1).mean()),
        "item_norm": float(items.norm(dim=1).mean()),
        "user_mean_cosine": float((F.normalize(users, dim=1) @ mean).mean()),
    }


def run(options: RecommendationOptions, context: RunContext) -> RecipeResult:
    notes, source = [], "MovieLens-100k"
    if options.data:
        data, problems = read_interactions(
            options.data,
            options.test_fraction,
            options.seed,
            min_rating=options.min_rating,
            skip_bad_rows=options.skip_bad_rows,
        )
        notes += problems.notes()
        source = Path(options.data).stem
    else:
        data = load_movielens_100k(options.test_fraction, options.seed)
    fitting = hold_out(data, options.validation_fraction, options.seed)
    # the table's scores: validation (fit graph, validation items) or test (fit graph; every
    # known training interaction, validation included, left out of the ranking)
    scored = fitting if options.report == "validation" else data
    popularity = torch.bincount(fitting.train[:, 1], minlength=data.items).float()
    table = {
        "most popular items": ranking_metrics(
            popularity.expand(data.users, -1), scored, options.top_k
        )
    }
    histories, modules = {}, {}
    for method in options.names():
        model, histories[method], stop = train_method(method, fitting, options, context, source)
        modules[method] = model
        table[f"LightGCN + {method}"] = ranking_metrics(
            user_item_scores(model, fitting), scored, options.top_k
        )
        shape = embedding_geometry(model, fitting)
        notes.append(
            f"{method}: best validation Recall@{options.top_k} {stop['best']:.4f} at epoch"
            f" {stop['best_epoch']} of {stop['epochs_run']} run (of at most {options.epochs});"
            f" mean norm of users {shape['user_norm']:.3f}, of items {shape['item_norm']:.3f},"
            f" users' mean cosine to their mean {shape['user_mean_cosine']:.2f}."
        )
    history = merge_histories(histories)
    notes.append(
        f"{data.users} users, {data.items} items, {len(fitting.train)} training,"
        f" {len(fitting.test)} validation and {len(data.test)} test interactions ({source});"
        f" the table reports the {options.report} split."
    )
    return RecipeResult(table, history, modules, notes)


RECIPE = Recipe(
    name="recommendation",
    summary="LightGCN on MovieLens-100k: BPR vs SimGCL, XSimGCL, LightGCL; Recall/NDCG@20",
    options=RecommendationOptions,
    run=run,
    tiny={"methods": "bpr,xsimgcl,lightgcl", "epochs": 2, "batch_size": 8192, "embedding_dim": 8},
    first_column="model",
    needs={"recbole": "pip install --no-deps recbole"},
)
