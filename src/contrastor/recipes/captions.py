"""The cross-modal recipe on your own image-caption pairs: an image tower (small CNN +
projection head) and a caption tower (the packaged all-MiniLM-L6-v2 or the ``text_model``
folder, its top blocks trained from cached frozen states, + a linear projection), trained
with the CLIP or the SigLIP loss and evaluated by retrieval of each held-out image's own
caption and back.

Images are read from disk a batch at a time (decoded ahead by worker processes), so the
folder need not fit in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from contrastor.data.datasets import held_out_split
from contrastor.data.folder import FolderImages, batch_of, read_image_captions
from contrastor.data.views import ImageViews
from contrastor.eval import embed_in_chunks, retrieval_metrics
from contrastor.models import ContrastiveModel, SmallCNN
from contrastor.models.text import TextEncoder
from contrastor.recipes.base import RecipeResult
from contrastor.recipes.noisy_pairs import PairRobustness, noise_note
from contrastor.recipes.text import cached_states
from contrastor.run.loop import Loop, RunContext


class CaptionTower(nn.Module):
    """A :class:`~contrastor.models.text.TextEncoder` with its top ``trainable_layers``
    blocks trained, then a linear projection to ``dim``."""

    def __init__(
        self, max_length: int, trainable_layers: int, dim: int, path: str | None = None
    ) -> None:
        super().__init__()
        self.text = TextEncoder(path, max_length=max_length, trainable_layers=trainable_layers)
        self.head = nn.Linear(self.text.dim, dim)

    def forward(self, states: list[Tensor]) -> Tensor:
        """Projections from :meth:`TextEncoder.frozen_states` outputs."""
        return self.head(self.text.from_states(states))

    def embed(self, captions: list[str]) -> Tensor:
        return embed_in_chunks(self, lambda c: self.head(self.text(c)), captions, 64)


def image_tower(channels: int, width: int, dim: int) -> ContrastiveModel:
    return ContrastiveModel(SmallCNN(channels, width, 128), 128, dim)


def partner_recalls(directions: dict[str, tuple[Tensor, Tensor]]) -> dict[str, float]:
    """Recall@1/5 of each query's own partner (row i of the gallery), per named direction
    of ``(queries, gallery)``."""
    out = {}
    for name, (q, g) in directions.items():
        metrics = retrieval_metrics(q, g, ks=(1, 5), map_at_r=False)
        out |= {f"{name} recall@{k}": metrics[f"recall@{k}"] for k in (1, 5)}
    return out


def both_ways(a: Tensor, b: Tensor, first: str = "image", second: str = "text") -> dict[str, float]:
    """Recall@1/5 of each item's own partner, from ``a`` to ``b`` and back."""
    return partner_recalls({f"{first}→{second}": (a, b), f"{second}→{first}": (b, a)})


def training_views(options: Any) -> Callable[[Tensor, int, int], Tensor]:
    """``views(images, step, tower)``: the images as given, or with ``augment`` random
    views drawn from a generator fixed by the seed, the step and the tower (so a resumed
    run sees the same views)."""
    if not options.augment:
        return lambda images, step, tower: images
    augment = ImageViews()

    def views(images: Tensor, step: int, tower: int) -> Tensor:
        seed = (options.seed * 1_000_003 + step) * 2 + tower
        return augment(images, torch.Generator().manual_seed(seed))

    return views


def run_captions(options: Any, context: RunContext, loss: nn.Module) -> RecipeResult:
    """Train both towers with ``loss`` on ``options.data`` (the images through
    :func:`training_views`) and compare with the untrained towers on the held-out pairs."""
    pairs, problems = read_image_captions(
        options.data,
        size=options.image_size,
        workers=options.workers,
        skip_bad_rows=options.skip_bad_rows,
    )
    train, test = held_out_split(len(pairs.captions), None, options.test_fraction, options.seed)
    images: FolderImages = pairs.images.subset(train)
    corruption = options.corruption(len(train), options.seed)
    captions = [pairs.captions[train[j]] for j in corruption.partner.tolist()]
    torch.manual_seed(options.seed)
    channels, dim = images.channels, options.embedding_dim
    towers = nn.ModuleList(
        [
            image_tower(channels, options.width, dim),
            CaptionTower(
                options.max_length, options.trainable_layers, dim, options.text_model or None
            ),
        ]
    )
    untrained = nn.ModuleList(
        [
            image_tower(channels, options.width, dim),
            CaptionTower(
                options.max_length, options.trainable_layers, dim, options.text_model or None
            ),
        ]
    )
    untrained.load_state_dict(towers.state_dict())
    states = cached_states(towers[1].text, captions)
    robust = PairRobustness(options, len(train), context.world > 1)
    views = training_views(options)

    def step(index: Tensor, loop: Loop) -> Tensor:
        batch = batch_of(images, loop.plan, loop.step % loop.steps_per_epoch)
        mine = loop.share(index)
        z_image = towers[0](views(loop.share(batch), loop.step, 0))
        z_text = towers[1]([states[i] for i in mine.tolist()])
        return robust.loss(mine, lambda **kw: loss(z_image, z_text, **kw))

    label = f"{options.loss} on {Path(options.data).stem}"
    modules = {"towers": towers, "loss": loss}
    history = robust.fit(modules, len(train), step, options, context, label)
    test_images = pairs.images.subset(test)
    test_captions = [pairs.captions[i] for i in test]
    table = {}
    for name, pair in (("untrained towers", untrained), ("trained towers", towers)):
        table[name] = both_ways(
            embed_in_chunks(pair[0], pair[0], test_images, 256), pair[1].embed(test_captions)
        )
    notes = [
        n
        for n in (
            problems.note(),
            noise_note(corruption),
            robust.note("trained towers", corruption),
            f"{len(train)} training and {len(test)} held-out image-caption pairs ({options.data}).",
        )
        if n
    ]
    return RecipeResult(table, history, {"towers": towers, "loss": loss}, notes)
