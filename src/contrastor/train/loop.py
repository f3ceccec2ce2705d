"""The image job: encoder + projection head trained with a contrastive loss on image views.

It runs on the shared loop (:mod:`contrastor.run.loop`: AdamW, warm-up + cosine, bf16,
``torchrun``, atomic checkpoints, exact resume) and adds its own per-epoch metrics
(temperature, alignment, uniformity, kNN accuracy) and the final table against raw pixels
and the untrained encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from contrastor.data import ImageDataset, ImageViews, load_image_dataset, validation_split
from contrastor.data.datasets import pixels
from contrastor.data.folder import batch_of, read_image_folder
from contrastor.eval import (
    alignment_score,
    embed_in_chunks,
    feature_accuracy,
    knn_accuracy,
    per_query_auc,
    similarity_distribution,
    uniformity_score,
)
from contrastor.eval.scores import QUANTILES
from contrastor.models import ContrastiveModel, SmallCNN
from contrastor.models.vision import VisionBackbone
from contrastor.noise.detect import detection_report
from contrastor.run.checkpoint import atomic_save
from contrastor.run.loop import Loop, RunContext, Schedule
from contrastor.run.metrics_log import MetricsLog
from contrastor.scale.launch import Launch
from contrastor.train.config import TrainConfig
from contrastor.train.objectives import Batch, build_objective
from contrastor.train.report import RunResult, write_report
from contrastor.train.robust import corrupt_labels

CHECKPOINT_NAME = "train"
CHECKPOINT = "checkpoint-train.safetensors"
_MIX = 0x9E3779B1


def derived_generator(*parts: int) -> torch.Generator:
    """A CPU generator whose seed is a fixed mix of ``parts`` (seed, epoch, step...)."""
    value = 0
    for part in parts:
        value = (value * _MIX + int(part) + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


def build_model(config: TrainConfig, dataset: ImageDataset) -> ContrastiveModel:
    """The encoder + head, initialised from the run's seed (the same weights every time)."""
    torch.manual_seed(config.seed)
    if config.model == "small_cnn":
        encoder: nn.Module = SmallCNN(dataset.image_shape[0], config.width)
    else:
        encoder = VisionBackbone(config.model)
    return ContrastiveModel(
        encoder, encoder.feature_dim, config.embedding_dim, config.head_layers, config.head_hidden
    )


def embed(
    model: nn.Module, images: Tensor, device: torch.device, batch: int = 1024, head: bool = False
) -> Tensor:
    """Encoder features (or projections with ``head=True``) of ``images``, in eval mode."""
    fn = model if head else model.features
    return embed_in_chunks(model, lambda x: fn(x.to(device)), images, batch)


class ImageTask:
    """The image job as a :class:`~contrastor.run.loop.Task`: views of each batch of images,
    the encoder + head, and the configured objective. Its random draws derive from the seed
    and the position in the run (the shuffle from ``(seed, epoch)``, the views from
    ``(seed, step)``), so a run's numbers do not depend on how it is split across ranks."""

    def __init__(self, config: TrainConfig, launch: Launch) -> None:
        self.config = config
        self.rank, self.world, self.device = launch.rank, launch.world_size, launch.device
        self.notes: list[str] = []
        if config.data:
            self.data, problems = read_image_folder(
                config.data,
                config.test_fraction,
                config.seed,
                size=config.image_size,
                workers=config.workers,
                skip_bad_rows=config.skip_bad_rows,
            )
            self.notes += problems.notes()
        else:
            self.data = load_image_dataset(config.dataset, config.test_fraction, config.seed)
        if config.report == "validation":
            self.data = validation_split(self.data, config.test_fraction, config.seed)
        self.noisy = torch.zeros(len(self.data.train_labels), dtype=torch.bool)
        if config.label_noise > 0:
            corruption = corrupt_labels(
                self.data.train_labels, config.label_noise, config.label_noise_kind, config.seed
            )
            self.data.train_labels, self.noisy = corruption.labels, corruption.noisy
        self.model = build_model(config, self.data).to(self.device)
        self.loss = build_objective(
            config, self.model, len(self.data.train_labels), distributed=self.world > 1
        ).to(self.device)
        if self.world > 1 and self.device.type == "cuda":
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.views = ImageViews()

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "loss": self.loss}

    def batches(self, epoch: int, g: torch.Generator) -> list[Tensor]:
        cfg, data = self.config, self.data
        order = torch.randperm(
            len(data.train_labels), generator=derived_generator(cfg.seed, 0, epoch)
        )
        self.loss.before_epoch(epoch, self.projections, data.train_labels.to(self.device))
        size = cfg.batch_size
        return [order[i : i + size] for i in range(0, len(order) - size + 1, size)]

    def step(self, batch: Tensor, loop: Loop) -> Tensor:
        cfg, data = self.config, self.data
        g = derived_generator(cfg.seed, 1, loop.step)
        # every rank draws the views of the whole batch, then keeps its own share
        images = batch_of(data.train_images, loop.plan, loop.step % loop.steps_per_epoch)
        views = [loop.share(self.views(images, g)).to(self.device) for _ in range(cfg.views)]
        labels, index = loop.share(data.train_labels[batch]), loop.share(batch)
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        z = self.model(torch.cat(views)).float()
        return self.loss(
            Batch(list(z.chunk(cfg.views)), views, labels.to(self.device), index.to(self.device))
        )

    def after_step(self) -> None:
        self.loss.after_step(self.model)

    def epoch_metrics(self, epoch: int) -> dict[str, Any]:
        cfg, data = self.config, self.data
        g = derived_generator(cfg.seed, 2)
        probe = data.test_images[:512]
        a = nn.functional.normalize(
            embed(self.model, self.views(probe, g), self.device, head=True), dim=1
        )
        b = nn.functional.normalize(
            embed(self.model, self.views(probe, g), self.device, head=True), dim=1
        )
        train_f = embed(self.model, data.train_images, self.device)
        test_f = embed(self.model, data.test_images, self.device)
        temperature = self.loss.temperature
        spread = similarity_distribution(a, b)
        quantiles = {
            f"{kind}_similarity_q{round(100 * q):02d}": value
            for kind in ("positive", "negative")
            for q, value in zip(QUANTILES, spread[f"{kind}_quantiles"], strict=True)
            if q in (0.05, 0.5, 0.95)
        }
        return {
            "temperature": temperature.value if temperature is not None else float("nan"),
            "alignment": alignment_score(a, b),
            "uniformity": uniformity_score(torch.cat([a, b])),
            **quantiles,
            "view_pair_auc": spread["auc"],
            "view_query_auc": float(
                per_query_auc(a @ b.T, torch.eye(len(a), dtype=torch.bool)).nanmean()
            ),
            "knn_accuracy": knn_accuracy(
                train_f, data.train_labels, test_f, data.test_labels, k=cfg.knn_k
            ),
        }

    def noise_report(self) -> dict[str, Any]:
        """Realised label-noise rate and, with a robust strategy, how well its clean
        probabilities find the flipped labels."""
        if not bool(self.noisy.any()):
            return {}
        report: dict[str, Any] = {"label_noise_rate": float(self.noisy.double().mean())}
        robust = self.loss.robust
        if robust is not None and int(robust.epoch) >= robust.warmup:
            report["detector"] = detection_report(robust.clean.cpu(), self.noisy)
        return report

    def final_table(self) -> tuple[dict[str, dict[str, float]], Tensor]:
        cfg, data = self.config, self.data
        k = cfg.knn_k
        table, features = {}, {}
        models: list[tuple[str, nn.Module]] = [("trained encoder", self.model)]
        if cfg.baselines:
            raw_train, raw_test = pixels(data.train_images), pixels(data.test_images)
            table["raw pixels"] = feature_accuracy(
                raw_train, data.train_labels, raw_test, data.test_labels, k
            )
            initial = build_model(cfg, data).to(self.device)
            pretrained = getattr(initial.encoder, "pretrained", False)
            name = "pre-trained encoder" if pretrained else "untrained encoder"
            models.insert(0, (name, initial))
        for name, model in models:
            tr, te = (
                embed(model, data.train_images, self.device),
                embed(model, data.test_images, self.device),
            )
            table[name] = feature_accuracy(tr, data.train_labels, te, data.test_labels, k)
            features[name] = te
        kept = self.kept_labels()
        if kept is not None:
            table["trained encoder, kept labels"] = feature_accuracy(
                tr[kept], data.train_labels[kept], te, data.test_labels, k
            )
        return table, features["trained encoder"]

    def projections(self) -> Tensor:
        """The head's projections of every training image, in index order."""
        return embed(self.model, self.data.train_images, self.device, head=True)

    def kept_labels(self) -> Tensor | None:
        """With a robust strategy: its detector refreshed once more on the trained encoder,
        and the training samples it keeps (clean probability >= 0.5), on which the
        ``kept labels`` row fits its kNN and probe. ``--robust-warmup`` equal to the epochs
        trains plainly and cleans the labels only at the end (a post-hoc filter)."""
        robust = self.loss.robust
        if robust is None:
            return None
        robust.refresh(self.config.epochs, self.projections, self.data.train_labels.to(self.device))
        kept = robust.kept()
        return None if kept is None else kept.cpu()


def context_of(config: TrainConfig) -> RunContext:
    """Where and how the image job runs, from its settings."""
    return RunContext(
        Path(config.out),
        config.resume,
        config.precision,
        config.checkpoint_every,
        config.progress,
        config.device,
    )


def identity(config: TrainConfig) -> dict[str, Any]:
    """Settings that must match for a checkpoint to be resumable."""
    data = config.to_dict()
    for key in ("resume", "progress", "out", "device", "checkpoint_every", "baselines"):
        data.pop(key)
    return data


class Run:
    """One image-job run: its :class:`ImageTask` on the shared :class:`Loop`, in the
    ``context`` given (a recipe's) or the one its settings describe."""

    def __init__(self, config: TrainConfig, context: RunContext | None = None) -> None:
        self.config = config
        self.context = context or context_of(config)
        launch = self.context.join()
        self.rank, self.world, self.device = launch.rank, launch.world_size, launch.device
        self.folder = Path(self.context.folder or config.out)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.task = ImageTask(config, launch)
        self.data, self.model, self.loss = self.task.data, self.task.model, self.task.loss
        if self.world > 1 and config.batch_size < self.world:
            raise ValueError(f"batch_size {config.batch_size} is smaller than {self.world} ranks")
        scales = {"loss.predictor": config.predictor_lr} if config.predictor_lr != 1 else {}
        schedule = Schedule(
            config.epochs, config.lr, config.weight_decay, config.warmup_epochs, config.seed, scales
        )
        self.loop = Loop(
            self.task,
            schedule,
            self.context,
            name=CHECKPOINT_NAME,
            identity=identity(config),
            log=MetricsLog(self.folder, tensorboard=self.rank == 0),
            metrics=self.task.epoch_metrics,
        )


def train(config: TrainConfig) -> RunResult:
    """Train, evaluate against raw pixels and the untrained encoder, write the run folder.

    The folder gets ``checkpoint-train.safetensors`` (resumable), ``model.safetensors``
    (final weights), ``metrics.csv``/``metrics.json``, ``results.json``, ``config.yaml`` and
    ``report.html`` with its PNG plots.
    """
    run = Run(config.validate())
    if run.rank == 0:
        (run.folder / "config.yaml").write_text(_yaml(config.to_dict()))
    history = run.loop.fit()
    losses = run.loop.step_losses
    if run.world > 1:
        dist.barrier()
        dist.destroy_process_group()
        if run.rank != 0:
            return RunResult(run.folder, {}, [], losses)
    atomic_save(
        {f"model.{k}": v for k, v in run.model.state_dict().items()},
        run.folder / "model.safetensors",
        {"config": config.to_dict()},
    )
    table, test_features = run.task.final_table()
    result = RunResult(run.folder, table, history, losses, run.task.noise_report(), run.task.notes)
    write_report(result, config, test_features, run.data.test_labels)
    return result


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
