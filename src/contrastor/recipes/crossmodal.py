"""Cross-modal recipe: two encoders for two "modalities" of one item — the top and the bottom
half of a digit image — trained with the CLIP or the SigLIP loss, and evaluated by retrieval
of the exact partner in both directions on held-out images (zero-shot style: no labels are
used), plus how often the first hit is the same digit and how degenerate the ranking is,
beside a ridge map between the halves' pixels. With ``data`` a table of your own
image-caption pairs, an image tower and a MiniLM caption tower instead
(:mod:`contrastor.recipes.captions`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from contrastor.data.datasets import LOADERS, load_image_dataset
from contrastor.data.files import DataOptions
from contrastor.eval import embed_in_chunks, first_hit_spread, retrieval_metrics, ridge_map
from contrastor.losses import InfoNCE, SigLIP
from contrastor.models import ContrastiveModel, SmallCNN
from contrastor.recipes.base import Recipe, RecipeResult
from contrastor.recipes.captions import partner_recalls, run_captions, training_views
from contrastor.recipes.noisy_pairs import PairNoiseOptions, PairRobustness, noise_note
from contrastor.run.loop import Loop, RunContext

LOSSES = ("clip", "siglip")


def halves(images: Tensor) -> tuple[Tensor, Tensor]:
    """The top and the bottom half of ``(N, C, H, W)`` images."""
    middle = images.shape[2] // 2
    return images[:, :, :middle], images[:, :, middle:]


def two_towers(width: int, embedding_dim: int, features: int = 128) -> nn.ModuleList:
    """One SmallCNN + projection head per modality."""
    return nn.ModuleList(
        ContrastiveModel(SmallCNN(1, width, features), features, embedding_dim) for _ in range(2)
    )


def retrieval_row(
    down: tuple[Tensor, Tensor], up: tuple[Tensor, Tensor], labels: Tensor
) -> dict[str, float]:
    """Recall@1/5 of the exact partner for the ``down`` (top queries, bottom gallery) and
    ``up`` (bottom queries, top gallery) pairs of vectors; for top→bottom also the
    same-digit rate of the first hit and how degenerate the ranking is
    (:func:`~contrastor.eval.first_hit_spread`: the largest share of queries with one same
    first hit, and the share whose first hit is a tie)."""
    out = partner_recalls({"top→bottom": down, "bottom→top": up})
    same = retrieval_metrics(*down, labels, labels, ks=(1,), map_at_r=False)
    spread = first_hit_spread(*down)
    out["top→bottom same digit@1"] = same["precision@1"]
    out["top→bottom hub share"] = spread["hub share"]
    out["top→bottom tied@1"] = spread["tied at top"]
    return out


def cross_retrieval(
    towers: nn.ModuleList, first: Tensor, second: Tensor, labels: Tensor
) -> dict[str, float]:
    """:func:`retrieval_row` of the two towers' embeddings of held-out halves."""
    a = embed_in_chunks(towers[0], towers[0], first)
    b = embed_in_chunks(towers[1], towers[1], second)
    return retrieval_row((a, b), (b, a), labels)


def pixel_ridge(
    train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], labels: Tensor
) -> dict[str, float]:
    """The non-learned baseline: a ridge map from each half's pixels to the other's, its
    penalty chosen by leave-one-out error on the training pairs
    (:func:`~contrastor.eval.ridge_map`); queries are mapped halves, the gallery the
    other halves' pixels, scored by cosine."""
    top, bottom = (t.flatten(1).double() for t in test)
    down, up = ridge_map(*train), ridge_map(*reversed(train))
    return retrieval_row((down(top), bottom), (up(bottom), top), labels)


@dataclass
class CrossModalOptions(PairNoiseOptions, DataOptions):
    """``loss``: clip (symmetric InfoNCE) or siglip (pairwise sigmoid, learned temperature
    and bias); ``temperature`` is the start value when learned. With ``data`` (image-caption
    pairs): images resized to ``image_size`` (0: the first one's size), decoded by
    ``workers`` processes; captions cut at ``max_length`` tokens, the top
    ``trainable_layers`` blocks of MiniLM (or of the ``text_model`` folder) trained.
    ``pair_noise``, ``robust``, ``robust_warmup``: mismatched training pairs, simulated and
    trained through (:mod:`contrastor.recipes.noisy_pairs`). The improved CLIP recipe's parts
    (Fini et al., "Improved baselines for vision-language pre-training", TMLR 2023):
    ``label_smoothing`` of the CLIP targets, and ``augment``, random image views
    (:class:`~contrastor.data.views.ImageViews`) of every training image at every step."""

    dataset: str = "mnist"
    loss: str = "clip"
    epochs: int = 15
    batch_size: int = 256
    lr: float = 2e-3
    temperature: float = 0.1
    learnable_temperature: bool = True
    width: int = 16
    embedding_dim: int = 64
    test_fraction: float = 0.2
    image_size: int = 0
    workers: int = 2
    max_length: int = 32
    trainable_layers: int = 1
    text_model: str = ""
    label_smoothing: float = 0.0
    augment: bool = False
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.label_smoothing and self.loss != "clip":
            raise ValueError("label_smoothing applies to the clip loss")
        self.validate_data("image_text")
        if self.dataset not in LOADERS:
            raise ValueError(f"dataset must be one of {sorted(LOADERS)}, got {self.dataset!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {list(LOSSES)}, got {self.loss!r}")


def contrastive_loss(options: CrossModalOptions, distributed: bool) -> nn.Module:
    """The CLIP or SigLIP loss of the options, gathered across ranks when distributed."""
    if options.loss == "clip":
        return InfoNCE(
            options.temperature,
            symmetric=True,
            learnable_temperature=options.learnable_temperature,
            gather_distributed=distributed,
            label_smoothing=options.label_smoothing,
        )
    return SigLIP(
        options.temperature,
        learnable_temperature=options.learnable_temperature,
        gather_distributed=distributed,
    )


def run(options: CrossModalOptions, context: RunContext) -> RecipeResult:
    distributed = context.world > 1
    loss = contrastive_loss(options, distributed)
    if options.data:
        return run_captions(options, context, loss)
    data = load_image_dataset(options.dataset, options.test_fraction, options.seed)
    top, bottom = halves(data.train_images)
    corruption = options.corruption(len(top), options.seed)
    bottom = corruption.apply(bottom)
    test_top, test_bottom = halves(data.test_images)
    torch.manual_seed(options.seed)
    untrained = two_towers(options.width, options.embedding_dim)
    towers = two_towers(options.width, options.embedding_dim)
    towers.load_state_dict(untrained.state_dict())

    robust = PairRobustness(options, len(top), distributed)

    views = training_views(options)

    def step(index: Tensor, loop: Loop) -> Tensor:
        mine = loop.share(index)
        first, second = views(top[mine], loop.step, 0), views(bottom[mine], loop.step, 1)
        return robust.loss(mine, lambda **kw: loss(towers[0](first), towers[1](second), **kw))

    label = f"{options.loss} on {options.dataset} halves"
    history = robust.fit({"towers": towers, "loss": loss}, len(top), step, options, context, label)
    labels = data.test_labels
    table = {
        "pixels, ridge map": pixel_ridge((top, bottom), (test_top, test_bottom), labels),
        "untrained encoders": cross_retrieval(untrained, test_top, test_bottom, labels),
        "trained encoders": cross_retrieval(towers, test_top, test_bottom, labels),
    }
    notes = [n for n in (noise_note(corruption), robust.note("trained encoders", corruption)) if n]
    return RecipeResult(table, history, {"towers": towers, "loss": loss}, notes)


RECIPE = Recipe(
    name="crossmodal",
    summary="two encoders, top vs bottom half of a digit, CLIP or SigLIP, retrieval both ways",
    options=CrossModalOptions,
    run=run,
    tiny={"dataset": "digits", "epochs": 2, "batch_size": 64, "width": 4, "embedding_dim": 16},
    first_column="encoders",
)
